"""Sphinx configuration of skjko's documentation.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The example gallery runs every script of ``examples/`` with its quick setting
(``--quick``): the pages show what the code prints and draws in seconds, not
the full-length runs of the README's figures.
"""

import sys
import warnings
from pathlib import Path

import skjko

DOCS = Path(__file__).resolve().parent

project = "skjko"
author = "skjko developers"
copyright = "2026, skjko developers"
release = skjko.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_design",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
root_doc = "index"
default_role = "literal"
smartquotes = False  # "--quick" stays two hyphens, 'auto' keeps straight quotes

# -- API reference -----------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # the numpydoc sections say the types
autoclass_content = "class"
add_module_names = False

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"  # link only the aliases below: words such as "of" or "shape" stay text
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "array-like": ":term:`array-like <array_like>`",
    "Tensor": "torch.Tensor",
    "torch.Tensor": "torch.Tensor",
    "torch.device": "torch.device",
    "nn.Module": "torch.nn.Module",
    "RandomState": "numpy.random.RandomState",
    "JKOFlowDensity": "skjko.JKOFlowDensity",
    "JKOFlowConditionalDensity": "skjko.JKOFlowConditionalDensity",
    "JKOFlowOutlierDetector": "skjko.JKOFlowOutlierDetector",
    "BlockFlow": "skjko.BlockFlow",
    "skjko.flow.BlockFlow": "skjko.BlockFlow",
    "ODEBlock": "skjko.ODEBlock",
    "InputMap": "skjko.InputMap",
    "VelocityMLP": "skjko.VelocityMLP",
    "PotentialVelocity": "skjko.PotentialVelocity",
}
# Validate every public docstring. Left out: GL01/GL02 (where the summary starts),
# ES01 (extended summary), SA01 (See Also), EX01 (Examples), SS05 (third-person
# verb), PR09 (parameter descriptions ending in a period), RT02 (a named return
# value), as scikit-learn leaves them out; and PR07/RT03, a parameter or return
# value with a type but no sentence: ``x : Tensor of shape (n, d)`` says what a
# building block's argument is, and numpydoc's own example configuration skips RT03.
numpydoc_validation_checks = {"all", "GL01", "GL02", "ES01", "SA01", "EX01", "SS05", "PR09",
                              "RT02", "PR07", "RT03"}
numpydoc_validation_exclude = {
    r"\.__call__$",
    r"\.__repr__$",
    # The parameters it shares with JKOFlowDensity are one entry, "As for JKOFlowDensity",
    # without the type and default each has there (PR03, PR04).
    r"^skjko\.JKOFlowConditionalDensity$",
}

# -- Cross-links -------------------------------------------------------------
# Each project's own inventory first; where the build machine has no network, the
# bundled subset in _inventories/ (written by _inventories/make_inventories.py).
INVENTORIES = DOCS / "_inventories"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", ("https://docs.python.org/3/objects.inv",
                                              str(INVENTORIES / "python.inv"))),
    "numpy": ("https://numpy.org/doc/stable/", ("https://numpy.org/doc/stable/objects.inv",
                                                 str(INVENTORIES / "numpy.inv"))),
    "sklearn": ("https://scikit-learn.org/stable/",
                ("https://scikit-learn.org/stable/objects.inv", str(INVENTORIES / "sklearn.inv"))),
    "torch": ("https://docs.pytorch.org/docs/stable/",
              ("https://docs.pytorch.org/docs/stable/objects.inv", str(INVENTORIES / "torch.inv"))),
    "joblib": ("https://joblib.readthedocs.io/en/stable/",
               ("https://joblib.readthedocs.io/en/stable/objects.inv",
                str(INVENTORIES / "joblib.inv"))),
    "matplotlib": ("https://matplotlib.org/stable/",
                   ("https://matplotlib.org/stable/objects.inv",
                    str(INVENTORIES / "matplotlib.inv"))),
}
intersphinx_timeout = 5
nitpicky = True  # an unresolved reference is a warning, and -W makes it an error

# -- Example gallery ---------------------------------------------------------
sys.path.insert(0, str(DOCS))  # gallery_settings, which sphinx-gallery imports by name

# What the examples print goes on their pages: there a warning reads as its category
# and message, not as the build machine's path to skjko.
warnings.formatwarning = lambda message, category, *args, **kwargs: (
    f"{category.__name__}: {message}\n")

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$",  # run every script, not only plot_*.py
    "reset_argv": "gallery_settings.quick_argv",
    "download_all_examples": False,
    "remove_config_comments": True,
    "capture_repr": (),
    "reference_url": {"skjko": None},
    "doc_module": ("skjko",),
    "backreferences_dir": "generated/backreferences",
    "within_subsection_order": "gallery_settings.QuickstartFirst",
    "show_memory": False,
    "matplotlib_animations": False,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skjko {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


# -- Names by their module path ------------------------------------------------
def resolve_public_name(app, env, node, contnode):
    """Resolve ``skjko.<module>.<Name>`` to ``skjko.<Name>`` for the names in ``skjko.__all__``.

    Docstrings name classes by the module that defines them (``skjko.flow.BlockFlow``);
    the API reference documents them where users import them from.
    """
    target = node.get("reftarget", "")
    parts = target.split(".")
    if node.get("refdomain") != "py" or len(parts) < 3 or parts[0] != "skjko":
        return None
    for start in range(2, len(parts)):
        if parts[start] in skjko.__all__:
            node["reftarget"] = ".".join(["skjko", *parts[start:]])
            return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder,
                                                     node["reftype"], node["reftarget"],
                                                     node, contnode)
    return None


def setup(app):
    app.connect("missing-reference", resolve_public_name)
