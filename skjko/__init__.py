"""skjko: scikit-learn density estimation with JKO-iFlow normalizing flows."""

from .cell_stretch import CellStretch
from .conditional import JKOFlowConditionalDensity
from .divergence import (AutogradTrace, ExactTrace, HutchinsonTrace, SampledStageTrace,
                         divergence_exact, divergence_hutchinson)
from .estimator import JKOFlowDensity
from .flow import BlockFlow, standard_normal_log_prob
from .input_map import InputMap
from .ode_block import ODEBlock
from .outlier import JKOFlowOutlierDetector
from .plotting import plot_history
from .potential import PotentialVelocity
from .velocity import VelocityMLP

__version__ = "0.1.0"

__all__ = [
    "AutogradTrace",
    "BlockFlow",
    "CellStretch",
    "ExactTrace",
    "HutchinsonTrace",
    "InputMap",
    "JKOFlowConditionalDensity",
    "JKOFlowDensity",
    "JKOFlowOutlierDetector",
    "ODEBlock",
    "PotentialVelocity",
    "SampledStageTrace",
    "VelocityMLP",
    "divergence_exact",
    "divergence_hutchinson",
    "plot_history",
    "standard_normal_log_prob",
    "__version__",
]
