"""Write the bundled intersphinx inventories of ``docs/_inventories/``.

``docs/conf.py`` asks each project for its own ``objects.inv`` first; these small
files are the fallback for build machines without network. They hold only the
names the documentation links to, at the addresses where each project's
documentation puts them (its URL scheme for API pages, glossary terms and
labels). The rows were written on a machine without network, so a link of the
offline build has not been checked against the live page; an online build reads
the real inventories and never these. After adding a cross-link that the
fallback lacks (an offline build warns ``reference target not found``), add its
row here and rerun::

    python docs/_inventories/make_inventories.py
"""

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# project file -> (project name, version, rows of (name, domain:role, uri, display name)).
# A uri ending in "$" takes the name in place of the "$"; display name "-" is the name.
INVENTORIES = {
    "python": ("Python", "3", [
        ("None", "py:data", "library/constants.html#$", "-"),
        ("True", "py:data", "library/constants.html#$", "-"),
        ("False", "py:data", "library/constants.html#$", "-"),
        ("int", "py:class", "library/functions.html#$", "-"),
        ("float", "py:class", "library/functions.html#$", "-"),
        ("str", "py:class", "library/stdtypes.html#$", "-"),
        ("bool", "py:class", "library/functions.html#$", "-"),
        ("dict", "py:class", "library/stdtypes.html#$", "-"),
        ("list", "py:class", "library/stdtypes.html#$", "-"),
        ("tuple", "py:class", "library/stdtypes.html#$", "-"),
        ("callable", "py:function", "library/functions.html#$", "-"),
        ("ValueError", "py:exception", "library/exceptions.html#$", "-"),
        ("TypeError", "py:exception", "library/exceptions.html#$", "-"),
        ("UserWarning", "py:exception", "library/exceptions.html#$", "-"),
        ("KeyboardInterrupt", "py:exception", "library/exceptions.html#$", "-"),
        ("pickle", "py:module", "library/pickle.html#module-pickle", "-"),
        ("bltin-boolean-values", "std:label", "library/stdtypes.html#$", "Boolean Values"),
        ("sequence", "std:term", "glossary.html#term-sequence", "-"),
        ("mapping", "std:term", "glossary.html#term-mapping", "-"),
        ("iterable", "std:term", "glossary.html#term-iterable", "-"),
    ]),
    "numpy": ("NumPy", "2", [
        ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#$", "-"),
        ("numpy.random.RandomState", "py:class", "reference/random/legacy.html#$", "-"),
        ("numpy.random.Generator", "py:class", "reference/random/generator.html#$", "-"),
        ("numpy.quantile", "py:function", "reference/generated/numpy.quantile.html#$", "-"),
        ("numpy.dtype", "py:class", "reference/generated/numpy.dtype.html#$", "-"),
        ("numpy.float64", "py:attribute", "reference/arrays.scalars.html#$", "-"),
        ("array_like", "std:term", "glossary.html#term-array_like", "-"),
    ]),
    "sklearn": ("scikit-learn", "1.9", [
        *((f"sklearn.{name}", "py:class", f"modules/generated/sklearn.{name}.html#$", "-")
          for name in ("pipeline.Pipeline", "model_selection.GridSearchCV",
                       "model_selection.RandomizedSearchCV", "ensemble.IsolationForest",
                       "mixture.GaussianMixture", "neighbors.KernelDensity",
                       "neighbors.LocalOutlierFactor", "exceptions.ConvergenceWarning",
                       "exceptions.NotFittedError", "preprocessing.StandardScaler",
                       "preprocessing.QuantileTransformer", "decomposition.PCA",
                       "base.BaseEstimator", "utils.metadata_routing.MetadataRequest",
                       "utils.metadata_routing.MetadataRouter")),
        *((f"sklearn.{name}", "py:function", f"modules/generated/sklearn.{name}.html#$", "-")
          for name in ("base.clone", "set_config", "get_config", "config_context",
                       "pipeline.make_pipeline")),
        ("metadata_routing", "std:label", "metadata_routing.html#metadata-routing",
         "Metadata Routing"),
        ("sphx_glr_auto_examples_miscellaneous_plot_set_output.py", "std:label",
         "auto_examples/miscellaneous/plot_set_output.html"
         "#sphx-glr-auto-examples-miscellaneous-plot-set-output-py",
         "Introducing the set_output API"),
        ("df_output_transform", "std:label", "modules/df_output_transform.html"
         "#df-output-transform", "Pandas/Polars Output for Transformers with set_output API"),
        ("array-like", "std:term", "glossary.html#term-array-like", "-"),
        ("meta-estimator", "std:term", "glossary.html#term-meta-estimator", "-"),
        ("random_state", "std:term", "glossary.html#term-random_state", "-"),
        ("n_features_in_", "std:term", "glossary.html#term-n_features_in_", "-"),
        ("feature_names_in_", "std:term", "glossary.html#term-feature_names_in_", "-"),
    ]),
    "torch": ("PyTorch", "2.13", [
        ("torch.Tensor", "py:class", "tensors.html#$", "-"),
        ("torch.device", "py:class", "tensor_attributes.html#$", "-"),
        ("torch.dtype", "py:class", "tensor_attributes.html#$", "-"),
        ("torch.nn.Module", "py:class", "generated/torch.nn.Module.html#$", "-"),
        ("torch.nn.Linear", "py:class", "generated/torch.nn.Linear.html#$", "-"),
        ("torch.nn.Softplus", "py:class", "generated/torch.nn.Softplus.html#$", "-"),
        ("torch.nn.ModuleList", "py:class", "generated/torch.nn.ModuleList.html#$", "-"),
        ("torch.nn.Module.to", "py:method", "generated/torch.nn.Module.html#$", "-"),
        ("torch.load", "py:function", "generated/torch.load.html#$", "-"),
        ("torch.set_flush_denormal", "py:function",
         "generated/torch.set_flush_denormal.html#$", "-"),
        ("torch.get_num_threads", "py:function", "generated/torch.get_num_threads.html#$", "-"),
        ("torch.set_num_threads", "py:function", "generated/torch.set_num_threads.html#$", "-"),
        ("torch.no_grad", "py:class", "generated/torch.no_grad.html#$", "-"),
        ("torch.func.vmap", "py:function", "generated/torch.func.vmap.html#$", "-"),
        ("torch.func.jacrev", "py:function", "generated/torch.func.jacrev.html#$", "-"),
        ("torch.Generator", "py:class", "generated/torch.Generator.html#$", "-"),
    ]),
    "matplotlib": ("Matplotlib", "3.11", [
        ("matplotlib.axes.Axes", "py:class", "api/_as_gen/matplotlib.axes.Axes.html#$", "-"),
        ("matplotlib.figure.Figure", "py:class", "api/_as_gen/matplotlib.figure.Figure.html#$",
         "-"),
    ]),
    "joblib": ("joblib", "1.5", [
        ("joblib.dump", "py:function", "generated/joblib.dump.html#$", "-"),
        ("joblib.load", "py:function", "generated/joblib.load.html#$", "-"),
        ("joblib.parallel_config", "py:class", "generated/joblib.parallel_config.html#$", "-"),
    ]),
}


def inventory_bytes(project, version, rows):
    """An ``objects.inv`` (version 2) of ``rows``, as Sphinx writes it."""
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: {version}\n"
              "# The remainder of this file is compressed using zlib.\n")
    body = "".join(f"{name} {role} 1 {uri} {display}\n" for name, role, uri, display in rows)
    return header.encode() + zlib.compress(body.encode(), 9)


def main():
    for stem, (project, version, rows) in INVENTORIES.items():
        (HERE / f"{stem}.inv").write_bytes(inventory_bytes(project, version, list(rows)))


if __name__ == "__main__":
    main()
