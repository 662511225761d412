"""Turn the estimator's ``mixed_precision`` parameter into the dtype training autocasts to."""

import torch


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware.

    oneDNN's own test (AVX512-BF16 or AMX): without them bfloat16 products are
    emulated, with no speed to gain.
    """
    try:  # a private op; a torch without it gets float32
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_autocast_dtype(mixed_precision, device: torch.device):
    """``torch.bfloat16`` where the training steps autocast to it, else None.

    'auto' autocasts on a CPU with native bfloat16 matrix products alone: there
    a step is bound by its matrix products. On a GPU a step is bound by its
    kernel launches, so 'auto' leaves it in float32.
    """
    if mixed_precision == "auto":
        mixed_precision = device.type == "cpu" and cpu_has_native_bfloat16()
    return torch.bfloat16 if mixed_precision else None
