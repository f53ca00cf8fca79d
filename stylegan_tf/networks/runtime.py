"""How a network computes, as opposed to what it computes: chosen when the network is built, the
same for the life of the object, never pickled (a pickle holds only the release's kwargs).

    Runtime(impl="fast")                                  # inference with the fast op forms
    Runtime(precision="bf16", num_fp16_res=4)             # the top 4 resolutions in bfloat16

Mixed precision follows StyleGAN2-ADA: only the layers of the top `num_fp16_res` resolutions (of
the synthesis network or the discriminator, 8x8 and above, the ToRGB layers excepted) compute in
low precision, their outputs clamped to [-conv_clamp, conv_clamp]; everything else stays float32:
the mapping network, the 4x4 layers and dense heads, every variable and optimizer state (Keras'
mixed policies keep variables in float32 and cast them when read), the styles and demodulation of
the modulated convolutions, the normalization statistics, the minibatch standard deviation, the
images, the losses and the regularizers.
"""

import dataclasses
from typing import Optional

from stylegan_tf import names  # no TensorFlow here: configs and scripts name a Runtime before importing it


@dataclasses.dataclass(frozen=True)
class Runtime:
    """impl: 'ref' | 'fast' | 'xla' (`names.IMPLS`, `ops.fast`); precision: 'fp32' | 'bf16' | 'fp16';
    num_fp16_res: resolutions computed in low precision; conv_clamp: their output bound (None: none)."""

    impl: str = "ref"
    precision: str = "fp32"
    num_fp16_res: int = names.DEFAULT_NUM_FP16_RES
    conv_clamp: Optional[float] = names.DEFAULT_CONV_CLAMP

    def __post_init__(self):
        names.check_choice(self.impl, names.IMPLS, "impl")
        names.check_choice(self.precision, tuple(names.PRECISIONS), "precision")
        if int(self.num_fp16_res) < 0:
            raise ValueError(f"num_fp16_res must be >= 0, got {self.num_fp16_res}.")
        if self.conv_clamp is not None and not self.conv_clamp > 0:
            raise ValueError(f"conv_clamp must be positive or None, got {self.conv_clamp}.")

    @classmethod
    def from_value(cls, value):
        """A Runtime from None (the default), a Runtime or a dict of its fields (a Keras config)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise TypeError(f"runtime must be a Runtime or a dict, got {type(value).__name__}.")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_config(self):
        return dataclasses.asdict(self)

    def is_low_precision(self, resolution, top_resolution):
        """Whether the layers of `resolution` compute in low precision in a network whose top
        resolution is `top_resolution`."""
        if self.precision == "fp32" or resolution < 8:
            return False
        return any(top_resolution >> k == resolution for k in range(int(self.num_fp16_res)))

    def layer_kwargs(self, resolution, top_resolution, clamped=True):
        """Keras layer arguments for a layer of `resolution`: its dtype policy (None: the global
        policy, float32 unless a caller set another) and, for `clamped` layers, `conv_clamp`."""
        import keras
        low = self.is_low_precision(resolution, top_resolution)
        kwargs = {"dtype": keras.DTypePolicy(names.PRECISIONS[self.precision]) if low else None}
        if clamped:
            kwargs["conv_clamp"] = self.conv_clamp if low else None
        return kwargs
