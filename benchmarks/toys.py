"""FFJORD's 2-D toy distributions, with a numpy Generator.

The six samplers follow ``lib/toy_data.py`` of rtqichen/ffjord (Grathwohl et
al., ICLR 2019) in shape, scale and noise; the only changes are that every
random draw comes from the ``numpy.random.Generator`` passed in (FFJORD mixes
the global ``np.random`` state with its ``rng``), that exactly ``n`` rows are
returned for every ``n`` (FFJORD returns ``5 * (n // 5)`` pinwheel rows and
``2 * (n // 2)`` spiral rows) and that the result is float64.

>>> import numpy as np
>>> sample_toy("pinwheel", 1000, np.random.default_rng(0)).shape
(1000, 2)

:func:`toy_log_density` is the true log-density each sampler draws from: the
test NLL no model can beat on average, beside which the suite reports the
models' (a test set's own NLL under it moves by about 1/sqrt(rows)).
"""

import numpy as np
from scipy.special import i0e, logsumexp, ndtr
from sklearn.datasets import make_moons

TOYS = ("8gaussians", "pinwheel", "checkerboard", "2spirals", "moons", "rings")


def _eight_gaussians(n, rng):
    scale = 4.0
    s = 1.0 / np.sqrt(2)
    centers = scale * np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s),
                                (-s, -s)])
    points = rng.standard_normal((n, 2)) * 0.5 + centers[rng.integers(0, 8, n)]
    return points / 1.414


def _pinwheel(n, rng):
    radial_std, tangential_std, num_classes, rate = 0.3, 0.1, 5, 0.25
    rads = np.linspace(0, 2 * np.pi, num_classes, endpoint=False)
    features = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
    features[:, 0] += 1.0
    labels = np.arange(n) % num_classes
    angles = rads[labels] + rate * np.exp(features[:, 0])
    rotations = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)])
    rotations = np.reshape(rotations.T, (-1, 2, 2))
    return 2 * rng.permutation(np.einsum("ti,tij->tj", features, rotations))


def _checkerboard(n, rng):
    x1 = rng.random(n) * 4 - 2
    x2_ = rng.random(n) - rng.integers(0, 2, n) * 2
    x2 = x2_ + (np.floor(x1) % 2)
    return np.stack([x1, x2], axis=1) * 2


def _two_spirals(n, rng):
    halves = (n // 2, n - n // 2)
    arms = []
    for sign, m in zip((1.0, -1.0), halves):
        t = np.sqrt(rng.random((m, 1))) * 540 * (2 * np.pi) / 360
        dx = -np.cos(t) * t + rng.random((m, 1)) * 0.5
        dy = np.sin(t) * t + rng.random((m, 1)) * 0.5
        arms.append(sign * np.hstack([dx, dy]))
    x = np.vstack(arms) / 3
    return x + rng.standard_normal(x.shape) * 0.1


def _moons(n, rng):
    seed = int(rng.integers(0, 2**31 - 1))
    data = make_moons(n_samples=n, noise=0.1, random_state=seed)[0]
    return data * 2 + np.array([-1, -0.2])


def _rings(n, rng):
    sizes = [n // 4] * 3
    sizes = [n - sum(sizes)] + sizes  # innermost circle first, as FFJORD's n_samples1
    radii = (0.25, 0.5, 0.75, 1.0)
    circles = []
    for m, radius in zip(sizes, radii):
        angle = np.linspace(0, 2 * np.pi, m, endpoint=False)
        circles.append(np.stack([np.cos(angle), np.sin(angle)], axis=1) * radius)
    X = np.vstack(circles) * 3.0
    X = X[rng.permutation(n)]
    return X + rng.normal(scale=0.08, size=X.shape)


_SAMPLERS = {"8gaussians": _eight_gaussians, "pinwheel": _pinwheel,
             "checkerboard": _checkerboard, "2spirals": _two_spirals, "moons": _moons,
             "rings": _rings}


def sample_toy(name, n, rng):
    """``n`` draws from FFJORD's 2-D toy ``name``, a float64 array of shape (n, 2).

    Parameters
    ----------
    name : {'8gaussians', 'pinwheel', 'checkerboard', '2spirals', 'moons', 'rings'}
    n : int
        Number of rows.
    rng : numpy.random.Generator or int
        Source of randomness (an int seeds ``np.random.default_rng``); the
        same seed gives the same array.
    """
    if name not in _SAMPLERS:
        raise ValueError(f"unknown toy {name!r}; choose from {TOYS}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return np.ascontiguousarray(_SAMPLERS[name](int(n), rng), dtype=np.float64)


def toy_log_density(name, X):
    """The true log-density of toy ``name`` at the rows of ``X``, shape (n_samples,).

    Exact for 8gaussians, checkerboard and rings (-inf off the checkerboard's
    squares); the others integrate over the curve, or invert the pinwheel's
    map, numerically, to well under 1e-4 nats at the samplers' scales. A
    sampler's evenly spaced angles (moons, rings) are taken as continuous.

    Parameters
    ----------
    name : {'8gaussians', 'pinwheel', 'checkerboard', '2spirals', 'moons', 'rings'}
    X : array-like of shape (n_samples, 2)
    """
    if name not in _LOG_DENSITIES:
        raise ValueError(f"unknown toy {name!r}; choose from {TOYS}")
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([_LOG_DENSITIES[name](X[start:start + 1024])
                           for start in range(0, len(X), 1024)] or [np.empty(0)])


def _log_mean_gaussian(X, centers, std):
    """log of the mean over ``centers`` (m, 2) of N(x; center, std² I), per row of ``X``."""
    squared = ((X[:, None, :] - centers[None]) ** 2).sum(axis=-1)
    return (logsumexp(-squared / (2 * std**2), axis=1) - np.log(len(centers))
            - np.log(2 * np.pi * std**2))


def _midpoints(low, high, n):
    return low + (np.arange(n) + 0.5) * (high - low) / n


def _eight_gaussians_log_density(X):
    s = 1.0 / np.sqrt(2)
    centers = 4.0 * np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s),
                              (-s, -s)])
    return _log_mean_gaussian(X, centers / 1.414, 0.5 / 1.414)


def _pinwheel_residual(alpha, radius, rad, beta):
    """β(α) - β, wrapped to [-π, π): zero where f's polar angle α maps to x's angle β."""
    value = alpha - rad - 0.25 * np.exp(radius * np.cos(alpha)) - beta
    return (value + np.pi) % (2 * np.pi) - np.pi


def _pinwheel_slope(alpha, radius):
    """dβ/dα of the map above (the residual's derivative)."""
    return 1 + 0.25 * radius * np.sin(alpha) * np.exp(radius * np.cos(alpha))


def _pinwheel_log_density(X):
    # x = 2 R(-angle) f, f ~ N((1, 0), diag(0.3², 0.1²)), angle = rad_k + 0.25 exp(f₀):
    # f's polar (r, α) goes to ρ = 2r, β = α - rad_k - 0.25 exp(r cos α). A point
    # may have several preimages α per arm: sign changes on a grid, then Newton.
    radial_std, tangential_std = 0.3, 0.1
    rads = np.linspace(0, 2 * np.pi, 5, endpoint=False)
    grid = np.linspace(-np.pi, np.pi, 513)
    radius = np.hypot(X[:, 0], X[:, 1]) / 2
    beta = np.arctan2(X[:, 1], X[:, 0])
    density = np.zeros(len(X))
    for rad in rads:
        values = _pinwheel_residual(grid[None], radius[:, None], rad, beta[:, None])
        # A root: a sign change that is not the jump across the wrap at ±π.
        crossing = (np.sign(values[:, :-1]) != np.sign(values[:, 1:])) & (
            np.abs(values[:, :-1] - values[:, 1:]) < np.pi)
        rows, cols = np.nonzero(crossing)
        left, right = values[rows, cols], values[rows, cols + 1]
        alpha = grid[cols] - left * (grid[cols + 1] - grid[cols]) / (right - left)
        r = radius[rows]
        for _ in range(3):
            alpha -= _pinwheel_residual(alpha, r, rad, beta[rows]) / _pinwheel_slope(alpha, r)
        f0, f1 = r * np.cos(alpha), r * np.sin(alpha)
        p_f = np.exp(-(f0 - 1) ** 2 / (2 * radial_std**2) - f1**2 / (2 * tangential_std**2)
                     ) / (2 * np.pi * radial_std * tangential_std)
        # |det| of f -> x is 4 |dβ/dα|: 2 from ρ = 2r, 2 from the area element ρ/r.
        np.add.at(density, rows, p_f / (4 * np.abs(_pinwheel_slope(alpha, r)) * len(rads)))
    with np.errstate(divide="ignore"):
        return np.log(density)


def _checkerboard_log_density(X):
    # Uniform on 8 of the 16 squares of side 2 in [-4, 4)²: 1/32 there.
    x1, x2 = X[:, 0] / 2, X[:, 1] / 2
    inside = (np.abs(x1) < 2) & np.isin(np.floor(x2 - np.floor(x1) % 2), (0, -2))
    return np.where(inside, -np.log(32.0), -np.inf)


def _two_spirals_log_density(X):
    # Each arm (weight 1/2): ±(c(t) + u) / 3 + N(0, 0.1² I), c(t) = (-t cos t, t sin t),
    # t = 3π sqrt(U) (density 2t / (3π)²), u uniform on [0, 0.5]²: per axis a
    # box of width 1/6 smoothed by the Gaussian. Integrated over t at midpoints
    # (fine enough for the abrupt ends of the arms at t = 3π).
    std, width, t_max = 0.1, 0.5 / 3, 3 * np.pi
    t = _midpoints(0, t_max, 4000)
    weight = 2 * t / t_max**2 * (t_max / len(t))
    curve = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1) / 3
    density = np.zeros(len(X))
    for sign in (1.0, -1.0):
        offset = sign * X[:, None, :] - curve[None]  # (rows, t, 2)
        box = (ndtr(offset / std) - ndtr((offset - width) / std)) / width
        density += 0.5 * (box.prod(axis=-1) * weight).sum(axis=1)
    with np.errstate(divide="ignore"):
        return np.log(density)


def _moons_log_density(X):
    # make_moons (noise 0.1) scaled by 2 and shifted: two half circles, half the rows each.
    theta = _midpoints(0, np.pi, 2000)
    outer = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    inner = np.stack([1 - np.cos(theta), 0.5 - np.sin(theta)], axis=1)
    centers = np.vstack([outer, inner]) * 2 + np.array([-1, -0.2])
    return _log_mean_gaussian(X, centers, 0.2)


def _rings_log_density(X):
    # Four circles of radius 0.75 to 3 (a quarter of the rows each) plus N(0, 0.08² I):
    # the angle integrates in closed form, (2πσ²)⁻¹ exp(-(ρ - R)²/2σ²) I₀(ρR/σ²) e^(-ρR/σ²).
    std = 0.08
    rho = np.hypot(X[:, 0], X[:, 1])[:, None]
    radii = 3.0 * np.array([0.25, 0.5, 0.75, 1.0])[None]
    with np.errstate(divide="ignore"):
        log_circle = (-(rho - radii) ** 2 / (2 * std**2) + np.log(i0e(rho * radii / std**2))
                      - np.log(2 * np.pi * std**2))
    return logsumexp(log_circle, axis=1) - np.log(4)


_LOG_DENSITIES = {"8gaussians": _eight_gaussians_log_density,
                  "pinwheel": _pinwheel_log_density, "checkerboard": _checkerboard_log_density,
                  "2spirals": _two_spirals_log_density, "moons": _moons_log_density,
                  "rings": _rings_log_density}
