import os

# scikit-learn's check_array_api_input skips itself unless SciPy's array API
# support is switched on, which must happen before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# One torch thread in the tests and in the interpreters they start (README
# blocks, examples): on a machine whose other cores are busy, threads that spin
# waiting for each other made the suite crawl (benchmarks/JOURNAL.md, threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the environment is set)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
