"""Tensor operations, channels-last: `reference` (the original's formulation of every op, also
exported here), `fast` (faster forms of some, chosen by an explicit `impl`) and `upfirdn`
(StyleGAN2's FIR resampling)."""

from stylegan_tf.ops.reference import *  # noqa: F401,F403
from stylegan_tf.ops.reference import LRELU_ALPHA, NORM_EPSILON  # noqa: F401
