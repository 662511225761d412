"""Settings of every part (the suite's and the studies') in the three suites.

``smoke`` checks that every part runs (well under a minute), ``quick`` must
finish in under 10 minutes on 2 CPU cores, ``full`` may take about an hour (the
studies' full settings, longer: they are what their journal sections ran).
Every setting a result depends on is copied into that result's JSON;
``python -m benchmarks run --set KEY=JSON`` overrides one for a run.
"""

#: The suite: what ``python -m benchmarks run`` measures unless ``--parts`` says otherwise.
PARTS = ("density", "conditional", "anomaly", "speed", "training", "memory", "scaling",
         "threads")
#: Studies: parts that answer one question (which defaults, which velocity, ...), run only
#: when ``--parts`` names them.
STUDIES = ("defaults", "small_data", "parallel", "divergence", "velocity", "procedure",
           "device", "older_code", "anytime")
ALL_PARTS = PARTS + STUDIES

# skjko settings used wherever a part does not run the defaults. ``movement_tol=0`` and
# ``early_stopping=False`` fix the amount of work: exactly n_blocks blocks of
# max_iter steps each, so timings measure the code, not the stopping rules.
_SMALL = dict(hidden_sizes=(32, 32), n_blocks=2, max_iter=40, n_reparam=0,
              validation_interval=10, device="cpu")
_FIXED_WORK = dict(movement_tol=0.0, early_stopping=False, n_reparam=0, device="cpu")

# The studies' own settings (``procedure``: JKO-iFlow's whole procedure against an
# end-to-end CNF; ``velocity``: the MLP against OT-Flow's potential), as they were measured.
_PROCEDURE_TOY = dict(h=1.0, h_growth=1.4, h_max=5.0, n_blocks=4, movement_tol=0.01,
                      hidden_sizes=(64, 64), n_steps=3, max_iter=250, batch_size=1000,
                      learning_rate=5e-3, early_stopping=True, validation_fraction=0.1,
                      n_checks_no_change=5, validation_interval=25, n_blocks_no_change=1,
                      n_reparam=1, eta=0.5, n_refine=0, device="cpu", random_state=0)
_PROCEDURE_MINIBOONE = dict(_PROCEDURE_TOY, hidden_sizes=(128, 128, 128), max_iter=500,
                            learning_rate=1e-3)
_PROCEDURE_SHORT = dict(
    toy_jko=dict(_PROCEDURE_TOY, hidden_sizes=(16, 16), n_blocks=2, max_iter=15,
                 validation_interval=5),
    miniboone_jko=dict(_PROCEDURE_MINIBOONE, hidden_sizes=(16,), n_blocks=2, max_iter=10,
                       validation_interval=5),
    # Toys: rows, the CNF's seconds cap and evaluation interval, test-subset rows, picture.
    toy_run=dict(n_train=2000, n_test=2000, cnf_max_seconds=3.0, eval_every=10, n_subset=500,
                 grid=50, n_samples=1000),
    miniboone_run=dict(cnf_max_seconds=3.0, eval_every=10, n_subset=200, n_train=800,
                       n_test=400),
    # The CNF may run up to this many times the JKO flow's total optimizer iterations.
    budget_factor=5, toys_figure=None)
_VELOCITY_TOY = dict(hidden_sizes=(64, 64), n_blocks=3, max_iter=100, batch_size=1000,
                     learning_rate=5e-3, h=1.0, h_growth=1.4, h_max=5.0, movement_tol=0.01,
                     early_stopping=True, validation_fraction=0.1, validation_interval=25,
                     n_checks_no_change=5, n_blocks_no_change=1, n_reparam=1, eta=0.5,
                     n_refine=0, n_steps="auto", device="cpu", random_state=0)
_VELOCITY_SHORT = dict(
    velocities=("mlp", "potential"), overrides={},
    toy_fit=dict(_VELOCITY_TOY, hidden_sizes=(16, 16), n_blocks=2, max_iter=10,
                 validation_interval=5),
    miniboone_fit=dict(_VELOCITY_TOY, hidden_sizes=(16, 16), n_blocks=2, max_iter=5,
                       validation_interval=5, learning_rate=2e-3),
    toy_run=dict(n_train=1000, n_test=1000, n_throughput=500, repeats=1, max_fit_seconds=20.0),
    miniboone_run=dict(n_train=800, n_test=400, n_throughput=200, repeats=1,
                       max_fit_seconds=20.0))
_PARALLEL_JKO = dict(hidden_sizes=(64, 64), n_blocks=2, max_iter=150, batch_size=500,
                     learning_rate=5e-3, n_reparam=0, device="cpu")
_GMM_GRID = dict(n_components=(1, 2, 4, 8, 16, 32), covariance_type=("full", "diag"))
_TINY_GMM_GRID = dict(n_components=(1, 4), covariance_type=("full",))

SUITES = {
    "smoke": dict(
        density=dict(datasets=("checkerboard", "miniboone", "digits"), n_toy=(500, 500),
                     n_test_miniboone=300, n_train_miniboone=600,
                     jko=dict(_SMALL, hidden_sizes=(16,), max_iter=10, n_blocks=1),
                     peers=("MAF", "CNF"), e2e_cnf=False, min_peer_seconds=2.0,
                     gmm_grid=dict(n_components=(1, 4), covariance_type=("full",)),
                     kde_bandwidths=5, kde_cv_rows=500, zuko=dict(hidden=32, batch_size=256,
                                                                   eval_every=10, patience=3)),
        conditional=dict(datasets=("sine", "diabetes"), n_sine=(500, 500),
                         jko={"skjko": dict(_SMALL, hidden_sizes=(16,), max_iter=10,
                                            n_blocks=1)},
                         peers=("MAF",), min_peer_seconds=2.0, gp_rows=300,
                         gmm_grid=dict(n_components=(1, 4), covariance_type=("full",)),
                         zuko=dict(hidden=32, batch_size=256, eval_every=10, patience=3)),
        anomaly=dict(datasets=("wbc", "pima"), seeds=(0,),
                     jko=dict(_SMALL, hidden_sizes=(16,), max_iter=10, n_blocks=1)),
        speed=dict(dims=(2, 16), n_fit=500, fit_iter=3, n_rows=300, repeats=1,
                   zuko_iter=3, profile_d=16, profile_rows=200, other_nets=((32, 32),)),
        memory=dict(d=43, n_fit=500, fit_iter=3, n_score=(2000,)),
        scaling=dict(n_values=(300, 1000), d_values=(2, 8), n_fit_d=500, n_score_d=300,
                     jko=dict(_FIXED_WORK, hidden_sizes=(16, 16), n_blocks=1, max_iter=5)),
        threads=dict(dims=(2,), busy=(0,), steps=5),
        training=dict(dims=(2,), networks=((16, 16),), n_rows=500, batch_size=100, steps=2),
        device=dict(device="cuda", datasets=("checkerboard",), n_toy=500, score_chunks=(2000,),
                    cpu_rows=200, jko=dict(_SMALL, hidden_sizes=(16, 16), max_iter=10),
                    training=dict(dims=(2,), networks=((16, 16),), n_rows=500, batch_size=100,
                                  steps=2)),
        anytime=dict(datasets=("checkerboard",), n_toy=500, peers=("MAF",), peer_seconds=5.0,
                     curve_rows=200,
                     jko=dict(_SMALL, hidden_sizes=(16,), max_iter=10, n_blocks=1),
                     zuko=dict(hidden=16, batch_size=256, patience=2)),
        defaults=dict(datasets=("checkerboard",), n_toy=500, dequantize=False,
                      gmm_grid=_TINY_GMM_GRID, kde_bandwidths=3, peers=("MAF",),
                      peer_seconds=5.0, zuko=dict(hidden=16, batch_size=256, patience=2),
                      candidates=(dict(_SMALL, hidden_sizes=(16,), max_iter=10, n_blocks=1),)),
        small_data=dict(datasets=("pima",), sizes=(50,), n_toy=5000,
                        jko=dict(_SMALL, hidden_sizes=(16,), max_iter=10, n_blocks=1)),
        older_code=dict(revision="f4fd986", steps=(2, 6), rounds=1, threads=(1,)),
        parallel=dict(n_rows=400, repeats=1, h_grid=(0.5, 2.0),
                      jko=dict(_PARALLEL_JKO, hidden_sizes=(16,), n_blocks=1, max_iter=5)),
        divergence=dict(rows=200, dims=(2,), repeats=1),
        velocity=dict(_VELOCITY_SHORT, datasets=("8gaussians",)),
        procedure=dict(_PROCEDURE_SHORT, datasets=("8gaussians",)),
    ),
    "quick": dict(
        density=dict(datasets=("checkerboard", "miniboone", "digits"), n_toy=(5000, 5000),
                     n_test_miniboone=1000, n_train_miniboone=None,
                     jko=dict(_SMALL, hidden_sizes=(64, 64), max_iter=150, n_blocks=2,
                              validation_interval=25),
                     peers=("MAF", "CNF"), e2e_cnf=False, min_peer_seconds=10.0,
                     gmm_grid=dict(n_components=(1, 2, 4, 8, 16),
                                   covariance_type=("full", "diag")),
                     kde_bandwidths=9, kde_cv_rows=2000,
                     zuko=dict(hidden=64, batch_size=256, eval_every=25, patience=5)),
        conditional=dict(datasets=("sine", "diabetes"), n_sine=(2000, 2000),
                         jko={"skjko": dict(_SMALL, hidden_sizes=(64, 64), max_iter=150,
                                            n_blocks=3, validation_interval=25)},
                         peers=("MAF", "NSF"), min_peer_seconds=10.0, gp_rows=1000,
                         gmm_grid=dict(n_components=(1, 2, 4, 8, 16),
                                       covariance_type=("full", "diag")),
                         zuko=dict(hidden=64, batch_size=256, eval_every=25, patience=5)),
        anomaly=dict(datasets=("cardio", "letter", "pendigits", "pima", "satellite", "shuttle",
                           "vowels", "wbc"), seeds=(0,),
                     jko=dict(_SMALL, hidden_sizes=(64, 64), max_iter=100, n_blocks=2,
                              validation_interval=25)),
        speed=dict(dims=(2, 16, 43, 64), n_fit=2000, fit_iter=20, n_rows=1000, repeats=1,
                   zuko_iter=20, profile_d=43, profile_rows=500, other_nets=((128, 128, 128),)),
        memory=dict(d=43, n_fit=3000, fit_iter=20, n_score=(5000, 20000)),
        scaling=dict(n_values=(1000, 3000, 10000), d_values=(2, 8, 32, 64), n_fit_d=2000,
                     n_score_d=1000, jko=dict(_FIXED_WORK, hidden_sizes=(128, 128),
                                              n_blocks=1, max_iter=20)),
        threads=dict(dims=(2, 43), busy=(0, 1, 2), steps=20),
        training=dict(dims=(2, 16, 43, 64), networks=((128, 128),), n_rows=5000,
                      batch_size=1000, steps=10),
        device=dict(device="cuda", datasets=("checkerboard", "miniboone"), n_toy=5000,
                    score_chunks=(10_000,), cpu_rows=1000,
                    jko=dict(_SMALL, hidden_sizes=(64, 64), max_iter=150, n_blocks=2),
                    training=dict(dims=(2, 43), networks=((128, 128),), n_rows=5000,
                                  batch_size=1000, steps=10)),
        anytime=dict(datasets=("pima",), n_toy=5000, peers=("MAF", "NSF"), peer_seconds=60.0,
                     curve_rows=1000,
                     jko=dict(max_iter=100), zuko=dict(hidden=128, batch_size=256, patience=20)),
        defaults=dict(datasets=("checkerboard", "pima"), n_toy=5000, dequantize=False,
                      gmm_grid=_GMM_GRID, kde_bandwidths=9, peers=("MAF", "NSF"),
                      peer_seconds=60.0, zuko=dict(hidden=128, batch_size=256, patience=20),
                      candidates=({},)),
        small_data=dict(datasets=("pima",), sizes=(50, 100), n_toy=5000, jko={}),
        older_code=dict(revision="f4fd986", steps=(20, 120), rounds=1, threads=(1,)),
        parallel=dict(n_rows=2000, repeats=1, h_grid=(0.25, 0.5, 1.0, 2.0), jko=_PARALLEL_JKO),
        divergence=dict(rows=2000, dims=(2, 16, 43), repeats=1),
        velocity=dict(_VELOCITY_SHORT, datasets=("8gaussians", "miniboone")),
        procedure=dict(_PROCEDURE_SHORT, datasets=("8gaussians", "miniboone")),
    ),
    "full": dict(
        density=dict(datasets=("miniboone", "digits", "8gaussians", "checkerboard",
                               "2spirals", "pinwheel", "moons", "rings"),
                     n_toy=(20000, 20000), n_test_miniboone=None, n_train_miniboone=None,
                     jko=dict(device="cpu"),  # the defaults (plus random_state=0)
                     peers=("MAF", "NSF", "CNF"), e2e_cnf=True, min_peer_seconds=30.0,
                     gmm_grid=dict(n_components=(1, 2, 4, 8, 16, 32, 64),
                                   covariance_type=("full", "diag")),
                     kde_bandwidths=13, kde_cv_rows=5000,
                     zuko=dict(hidden=128, batch_size=256, eval_every=50, patience=10)),
        # The defaults (plus random_state=0), and without noise regularization.
        conditional=dict(datasets=("sine", "diabetes", "miniboone"), n_sine=(5000, 5000),
                         n_train_miniboone=None, n_test_miniboone=None,
                         jko={"skjko": dict(device="cpu"),
                              "skjko noise 0": dict(device="cpu", noise_std=0.0)},
                         peers=("MAF", "NSF"), min_peer_seconds=30.0, gp_rows=2000,
                         gmm_grid=dict(n_components=(1, 2, 4, 8, 16, 32),
                                       covariance_type=("full", "diag")),
                         zuko=dict(hidden=128, batch_size=256, eval_every=50, patience=10)),
        anomaly=dict(datasets=("cardio", "letter", "pendigits", "pima", "satellite", "shuttle",
                           "vowels", "wbc"), seeds=(0, 1, 2),
                     jko=dict(hidden_sizes=(128, 128), max_iter=200, n_blocks=2,
                              n_reparam=0, device="cpu")),
        speed=dict(dims=(2, 16, 43, 64), n_fit=3000, fit_iter=50, n_rows=3000, repeats=3,
                   zuko_iter=50, profile_d=43, profile_rows=1000, other_nets=((128, 128, 128),)),
        # Not 10^6 rows: scoring is linear in n, and 10^5 rows already took 184 s of one
        # core with the default 3-layer net's autograd trace (JOURNAL.md, "Memory").
        memory=dict(d=43, n_fit=3284, fit_iter=50, n_score=(10_000, 100_000, 1_000_000)),
        scaling=dict(n_values=(1000, 3000, 10000, 30000, 100000),
                     d_values=(2, 4, 8, 16, 32, 64), n_fit_d=3000, n_score_d=2000,
                     jko=dict(_FIXED_WORK, hidden_sizes=(128, 128), n_blocks=2,
                              max_iter=50)),
        threads=dict(dims=(2, 43), busy=(0, 1, 2), steps=40),
        # Blocks one step and a thousand steps from their initialization (denormals).
        training=dict(dims=(2, 16, 43, 64), networks=((128, 128), (64, 64), (256, 256)),
                      n_rows=5000, batch_size=1000, steps=20, fit_iters=(1, 1000)),
        # The defaults on a GPU (the device tool's machine), MINIBOONE and the slowest toy.
        device=dict(device="cuda", datasets=("miniboone", "rings"), n_toy=20000,
                    score_chunks=(10_000, 100_000), cpu_rows=2000, jko={},
                    training=dict(dims=(2, 16, 43, 64), networks=((128, 128),), n_rows=5000,
                                  batch_size=1000, steps=20)),
        # Issue 45's anytime study: the defaults and zuko's flows as their users train them
        # (5 transforms of 128 x 128, Adam 1e-3, batch 256, 20 epochs of patience).
        anytime=dict(datasets=("miniboone", "vowels", "letter"), n_toy=20000,
                     peers=("MAF", "NSF", "CNF"), peer_seconds=180.0, curve_rows=1000, jko={},
                     zuko=dict(hidden=128, batch_size=256, patience=20, max_grad_norm=None)),
        # Issue 47's real-set study: the ten real sets, every peer as its users train it,
        # scored on dequantized rows where columns sit on a grid.
        defaults=dict(datasets=("miniboone", "digits", "wbc", "pima", "vowels", "letter",
                                "cardio", "satellite", "pendigits", "shuttle"),
                      n_toy=5000, dequantize=True, gmm_grid=_GMM_GRID, kde_bandwidths=13,
                      peers=("MAF", "NSF"), peer_seconds=180.0,
                      zuko=dict(hidden=128, batch_size=256, patience=20, max_grad_norm=None),
                      candidates=({},)),
        small_data=dict(datasets=("pima", "wbc"), sizes=(50, 100, 200), n_toy=5000, jko={}),
        # Issue 17's reference: the last commit before its first change.
        older_code=dict(revision="f4fd986", steps=(50, 400), rounds=3, threads=(1, 2)),
        parallel=dict(n_rows=4000, repeats=2, h_grid=(0.25, 0.5, 1.0, 2.0), jko=_PARALLEL_JKO),
        divergence=dict(rows=5000, dims=(2, 16, 43), repeats=3),
        velocity=dict(
            datasets=("8gaussians", "checkerboard", "2spirals", "miniboone"),
            velocities=("mlp", "potential"), overrides={}, toy_fit=_VELOCITY_TOY,
            miniboone_fit=dict(_VELOCITY_TOY, n_blocks=2, max_iter=125, learning_rate=2e-3),
            toy_run=dict(n_train=10000, n_test=10000, n_throughput=2000, repeats=3,
                         max_fit_seconds=420.0),
            miniboone_run=dict(n_throughput=2000, repeats=2, max_fit_seconds=1050.0)),
        procedure=dict(
            datasets=("8gaussians", "pinwheel", "checkerboard", "2spirals", "moons", "rings",
                      "miniboone"),
            toy_jko=_PROCEDURE_TOY, miniboone_jko=_PROCEDURE_MINIBOONE,
            toy_run=dict(n_train=20000, n_test=20000, cnf_max_seconds=150.0, eval_every=50,
                         n_subset=2000, grid=150, n_samples=20000),
            miniboone_run=dict(cnf_max_seconds=1500.0, eval_every=250, n_subset=2000),
            budget_factor=5, toys_figure="benchmarks/toys_density.png"),
    ),
}

# The network timed by the speed and memory parts: skjko's default velocity
# (128, 128) with 2 blocks, fitted only briefly (weights not converged).
DEFAULT_HIDDEN = (128, 128)
SPEED_JKO = dict(hidden_sizes=DEFAULT_HIDDEN, n_blocks=2, **_FIXED_WORK)

#: The runs ``standing_<suite>.md`` reads, by tag (the file ``suite_<suite>_<tag>.json``):
#: named here, so a variant (``--label``) or an older narrowed run never enters the standing
#: by finishing last. A rerun under the same name replaces its file; a run under a new name
#: enters the standing when its tag is added here. Among the named runs a data set's newest
#: rows (density, conditional) or a part's newest run (the others) are shown. A suite not
#: listed reads every saved run.
STANDING = {
    "full": ("density-miniboone", "density-digits",
             "density-8gaussians-pinwheel-moons-checkerboard", "density-rings-2spirals",
             "conditional", "anomaly", "speed", "training", "memory", "scaling", "threads",
             "defaults",
             "device-rings", "older_code", "anytime"),
}
