"""The documentation: every public name has an API page, every example a gallery page,
and the site builds with warnings as errors.

The build here leaves the gallery out (``plot_gallery=0``): it checks the API
reference (numpydoc's validation of the public docstrings, broken cross-links,
undocumented members) and the user guide in seconds. ``.ci/run`` builds the
whole site, gallery included, after the tests.
"""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import skjko

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"


def test_every_public_name_has_an_api_entry():
    api = (DOCS / "api.rst").read_text()
    entries = set(re.findall(r"^   (\w+)$", api, flags=re.MULTILINE))
    assert entries == set(skjko.__all__) - {"__version__"}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_gallery_title(script):
    # sphinx-gallery makes a page of every script; its docstring's title heads the page.
    docstring = ast.get_docstring(ast.parse((EXAMPLES / script).read_text()))
    title, underline = docstring.splitlines()[:2]
    assert underline == "=" * len(title)


def test_docs_build_without_warnings(tmp_path):
    # A copy, so the build writes its generated pages there and not into the checkout.
    ignore = shutil.ignore_patterns("_build", "auto_examples", "generated", "*.png")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=ignore)
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-D", "plot_gallery=0", str(tmp_path / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    assert (tmp_path / "html" / "generated" / "skjko.JKOFlowDensity.html").exists()
