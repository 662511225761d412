"""Smoke test: every example script runs end to end with its quick setting and saves its figure."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUICK_FLAG = {"quickstart.py": "--fast"}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs_and_saves_its_figure(script, tmp_path):
    figure = tmp_path / "figure.png"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), QUICK_FLAG.get(script, "--quick"),
         "--figure", str(figure)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert figure.stat().st_size > 10_000  # a real picture, not an empty canvas
    assert "nan" not in result.stdout.lower()


def test_every_example_is_collected():
    assert {"quickstart.py", "plot_density_2d.py", "plot_anomaly_detection.py",
            "grid_search_h.py", "pipeline.py", "plot_latent_digits.py",
            "plot_conditional.py"} <= {
                p.name for p in EXAMPLES.glob("*.py")}
