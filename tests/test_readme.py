"""The README's Python blocks run as written.

The blocks of "Quickstart" form one script, in order (later blocks continue
the first one's session); the dask block is a script of its own. Each runs in
a fresh interpreter, as a user pasting it would run it.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def run_script(source, tmp_path, name):
    script = tmp_path / name
    script.write_text(source)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_readme_has_the_blocks_this_test_runs():
    blocks = python_blocks()
    assert len(blocks) == 6
    assert sum("LocalCluster" in block for block in blocks) == 1


def test_quickstart_blocks_run_in_order(tmp_path):
    session = "\n".join(block for block in python_blocks() if "LocalCluster" not in block)
    run_script(session, tmp_path, "quickstart_blocks.py")


@pytest.mark.filterwarnings("ignore")
def test_dask_block_runs_as_a_script(tmp_path):
    (block,) = [block for block in python_blocks() if "LocalCluster" in block]
    assert "'h':" in run_script(block, tmp_path, "dask_search.py")
