"""How sphinx-gallery runs and orders ``examples/`` (named by string in conf.py).

sphinx-gallery imports these by name, so the configuration stays picklable.
"""

import os
from pathlib import Path


def quick_argv(gallery_conf, script_vars):
    """Command line of each gallery example: its quick setting, its figure kept out of examples/.

    sphinx-gallery runs a script in the script's own folder; the figure it saves
    goes next to the gallery's copy of the script instead of over the full-length
    figure in ``examples/``, and the gallery shows the figures the script left open.
    """
    src = Path(script_vars["src_file"])
    figure = Path(script_vars["target_file"]).with_suffix(".png")
    return ["--quick", "--figure", os.path.relpath(figure, src.parent)]


class QuickstartFirst:
    """Gallery order: ``quickstart.py`` first, then the others by file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        return (filename != "quickstart.py", filename)

    def __repr__(self):
        return "QuickstartFirst"
