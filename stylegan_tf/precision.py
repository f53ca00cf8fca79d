"""Mixed precision, opt-in: the layers of the highest resolutions compute in bfloat16 or float16.

As StyleGAN2-ADA does, only the top `num_fp16_res` resolutions of the synthesis network and of the
discriminator run in low precision; everything else stays float32: the mapping network, the 4x4
layers and dense heads, every variable and optimizer state (Keras' mixed policies keep variables
in float32 and cast them when read), the styles and the demodulation of the modulated convolutions,
the instance- and pixel-norm statistics, the minibatch standard deviation, the ToRGB outputs and so
the images, the losses and the regularizers. `conv_clamp` clamps those layers' outputs to
[-conv_clamp, conv_clamp], which keeps float16 from overflowing.

    precision.set_precision(Gs, "bf16")               # in place; "fp32" restores the exact network

Per-resolution layers are found by their names (`<R>x<R>_...`, as the original's scopes).
"""

import re

import keras

PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
DEFAULT_NUM_FP16_RES = 4   # StyleGAN2-ADA's default
DEFAULT_CONV_CLAMP = 256.0  # StyleGAN2-ADA's default with mixed precision
_RESOLUTION_LAYER = re.compile(r"(?:^|/)(\d+)x\1_(\w+)$")


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    return precision


def _resolution_layers(net):
    """(resolution, layer) of every layer named `<R>x<R>_<name>`, except the ToRGB layers."""
    for layer in net._flatten_layers(include_self=False, recursive=True):  # noqa: SLF001 (Keras' own walk)
        match = _RESOLUTION_LAYER.search(layer.name or "")
        if match and not match.group(2).startswith("ToRGB"):
            yield int(match.group(1)), layer


def set_precision(net, precision="fp32", num_fp16_res=DEFAULT_NUM_FP16_RES, conv_clamp=DEFAULT_CONV_CLAMP):
    """Sets, in place, the compute precision of `net`'s layers at its top `num_fp16_res` resolutions
    (a generator's synthesis network, or a discriminator); returns the number of layers changed.
    Compiled functions that called the network must be traced again."""
    check_precision(precision)
    if num_fp16_res < 0:
        raise ValueError(f"num_fp16_res must be >= 0, got {num_fp16_res}.")
    if conv_clamp is not None and not conv_clamp > 0:
        raise ValueError(f"conv_clamp must be positive or None, got {conv_clamp}.")
    target = getattr(net, "synthesis", net)
    # The top num_fp16_res resolutions; the 4x4 layers always stay float32.
    low_resolutions = set() if precision == "fp32" else {
        int(target.resolution) >> k for k in range(num_fp16_res) if int(target.resolution) >> k >= 8}
    changed = 0
    for layer_resolution, layer in _resolution_layers(target):
        low = layer_resolution in low_resolutions
        for sublayer in layer._flatten_layers(include_self=True, recursive=True):  # noqa: SLF001
            sublayer.dtype_policy = keras.DTypePolicy(PRECISIONS[precision] if low else "float32")
            if hasattr(sublayer, "conv_clamp"):
                sublayer.conv_clamp = conv_clamp if low else None
        changed += int(low)
    net.precision = precision
    return changed
