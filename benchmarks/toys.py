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
"""

import numpy as np
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
