"""StyleGAN2-ADA's discriminator augmentation pipeline (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data"), channels-last, with the TF release's numbers.

Every op fires per image with probability `multiplier * p`. As in the release, the blit and general
geometric ops compose into one inverse 3x3 matrix per image, executed by one warp (reflect padding,
2x upsampling with the `sym6` wavelet, bilinear sampling, `sym6` downsampling, crop); the colour ops
compose into one 4x4 matrix; then the 4-band image-space filter, additive noise and cutout.

The warp samples with gathers, not `ImageProjectiveTransformV3` (which XLA does not compile). Its
values equal the release's; its gradient w.r.t. the images is the exact adjoint of the sampling
(the release's registered gradient warps the incoming gradient by the inverse transform, an
approximation of it). Everything is differentiable w.r.t. the images to second order (R1 on the
augmented reals) and runs under tf.function, XLA, tf.distribute and mixed precision (the pipeline
computes in float32 and returns the input's dtype).

    pipeline = AugmentPipeline("bgc")
    augmented = pipeline(images, p, StatelessDraws(seed, batch))   # images NHWC in [-1, 1]

Where the random parameters come from is the `draws` argument: `RandomDraws` (tf.random),
`StatelessDraws` (a seed; optionally the rows of one replica out of a global minibatch, so that the
numbers do not depend on the number of replicas), or any object with the same three methods (the
parity tests feed the release's recorded noise).
"""

import numpy as np
import tensorflow as tf

from stylegan_tf import names
from stylegan_tf.ops.image_transforms import (
    BAND_FILTERS,
    apply_color_matrix,
    filter_bands,
    rotate2d,
    rotate3d,
    scale2d,
    scale3d,
    translate2d,
    translate3d,
    warp,
)
from stylegan_tf.training.losses import stateless_normal, stateless_uniform

# The release's default strengths and ranges of each op (multipliers are 0 unless a preset enables them).
OP_DEFAULTS = dict(
    xflip=0.0, rotate90=0.0, xint=0.0, xint_max=0.125,
    scale=0.0, rotate=0.0, aniso=0.0, xfrac=0.0, scale_std=0.2, rotate_max=1.0, aniso_std=0.2,
    xfrac_std=0.125,
    brightness=0.0, contrast=0.0, lumaflip=0.0, hue=0.0, saturation=0.0, brightness_std=0.2,
    contrast_std=0.5, hue_max=1.0, saturation_std=1.0,
    imgfilter=0.0, imgfilter_bands=(1.0, 1.0, 1.0, 1.0), imgfilter_std=1.0,
    noise=0.0, cutout=0.0, noise_std=0.1, cutout_size=0.5,
)

LUMA_AXIS = np.array([1, 1, 1, 0], np.float64) / np.sqrt(3)
BAND_EXPECTED_POWER = np.array([10, 1, 1, 1], np.float64) / 13  # a 1/f spectrum over the 4 bands


def pipeline_ops(pipe="bgc", **overrides):
    """The op multipliers and ranges of a preset (`names.AUGMENT_PIPES`; None: no op), with overrides."""
    ops = dict(OP_DEFAULTS)
    if pipe is not None:
        for op in names.AUGMENT_PIPES[names.check_choice(pipe, tuple(names.AUGMENT_PIPES), "augpipe")]:
            ops[op] = 1.0
    unknown = sorted(set(overrides) - set(OP_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown augmentation option(s) {', '.join(unknown)}; expected some of "
                         f"{', '.join(OP_DEFAULTS)}.")
    ops.update(overrides)
    return ops


# ----------------------------------------------------------------------------------------------
# Random parameters.


class RandomDraws:
    """Parameters from TensorFlow's stateful random ops (eager use, previews)."""

    def __init__(self, batch):
        self.batch = batch

    def uniform(self, tail, low, high):
        return tf.random.uniform([self.batch] + list(tail), low, high)

    def normal(self, tail, std):
        return tf.random.normal([self.batch] + list(tail), 0.0, std)

    def noise_image(self, shape):
        return tf.random.normal(shape)


class StatelessDraws:
    """Parameters from a stateless seed [2]: each draw folds a counter into it. With `rows` =
    (global_batch, slot) the parameters are drawn for the global minibatch and the slot's rows taken
    (as the trainer's latents), so a run on N replicas augments as a run on one."""

    def __init__(self, seed, batch, rows=None):
        self.seed = seed
        self.batch = batch
        self.rows = rows
        self.count = 0

    def _seed(self):
        self.count += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.count, alg="philox")

    def _take(self, values):
        if self.rows is None:
            return values
        grouped = tf.reshape(values, [-1, self.batch] + values.shape.as_list()[1:])
        return tf.gather(grouped, self.rows[1])

    def _draw_batch(self):
        return self.batch if self.rows is None else self.rows[0]

    def uniform(self, tail, low, high):
        values = stateless_uniform([self._draw_batch()] + list(tail), self._seed())
        return self._take(low + (high - low) * values)

    def normal(self, tail, std):
        return self._take(stateless_normal([self._draw_batch()] + list(tail), self._seed()) * std)

    def noise_image(self, shape):
        seed = self._seed()
        if self.rows is not None:
            seed = tf.random.experimental.stateless_fold_in(seed, self.rows[1], alg="philox")
        return stateless_normal(shape, seed)


def _gate(draws, probability, values, disabled):
    """`values` where a per-image U[0,1) draw is below `probability`, else `disabled`."""
    on = draws.uniform([], 0.0, 1.0) < probability
    on = tf.reshape(on, [-1] + [1] * (values.shape.rank - 1))
    return tf.where(on, values, tf.cast(disabled, values.dtype) * tf.ones_like(values))


def _percentile(debug_percentile, batch, tail=()):
    return tf.broadcast_to(tf.constant(debug_percentile, tf.float32), [batch] + list(tail))


# ----------------------------------------------------------------------------------------------
# The pipeline.


class AugmentPipeline:
    """The release's `augment_pipeline` with a preset's ops (`pipeline_ops`).

    Args:
        pipe: preset name (`names.AUGMENT_PIPES`: 'blit', 'geom', 'color', 'filter', 'noise', 'cutout',
            'bg', 'bgc', 'bgcf', 'bgcfn', 'bgcfnc'), or None to enable ops one by one.
        **overrides: any op multiplier or range of `OP_DEFAULTS` (e.g. xflip=0.5, noise_std=0.05).
    """

    def __init__(self, pipe="bgc", **overrides):
        self.pipe = pipe
        self.ops = pipeline_ops(pipe, **overrides)

    def __call__(self, images, p, draws=None, debug_percentile=None, static_padding=True):
        """Augments images.

        Args:
            images: [N, H, W, C] (C 1 or 3), dynamic range [-1, 1]; any float dtype.
            p: augmentation probability (a float or scalar tensor, e.g. ADA's variable).
            draws: the random parameters' source (default `RandomDraws`).
            debug_percentile: None, or a value in [0, 1] that replaces every random parameter by
                that percentile of its distribution (the release's visualization mode).
            static_padding: pad the warp's input by the largest margin it can need (W-1, H-1), a
                static shape for XLA; False pads by what the batch's transforms need, as the release.

        Returns:
            The augmented images, same shape and dtype.
        """
        dtype = images.dtype
        x = tf.cast(images, tf.float32)
        batch = x.shape[0]
        if batch is None:
            raise ValueError("the augmentation pipeline needs a static batch size.")
        self.check_size(x.shape[1], x.shape[2])
        draws = draws or RandomDraws(batch)
        p = tf.cast(p, tf.float32)
        geometric = self.geometric_matrix(batch, x.shape[1], x.shape[2], p, draws, debug_percentile)
        if geometric is not None:
            x = warp(x, geometric, static_padding)
        color = self.color_matrix(batch, x.shape[3], p, draws, debug_percentile)
        if color is not None:
            x = apply_color_matrix(x, color)
        if self.ops["imgfilter"] > 0:
            x = filter_bands(x, self.band_gains(batch, p, draws, debug_percentile))
        if self.ops["noise"] > 0:
            x = self._noise(x, p, draws, debug_percentile)
        if self.ops["cutout"] > 0:
            x = self._cutout(x, p, draws, debug_percentile)
        return tf.cast(x, dtype)

    def check_size(self, height, width):
        """ValueError for images too small for an enabled op (the filter bank's reflect padding)."""
        pad = BAND_FILTERS.shape[1] // 2
        if self.ops["imgfilter"] > 0 and min(height, width) <= pad:
            raise ValueError(f"the imgfilter augmentation (pipelines bgcf, bgcfn, bgcfnc, filter) needs images of "
                             f"at least {pad + 1}x{pad + 1}, got {height}x{width}; use bgc or a larger resolution.")

    # ---- parameters -----------------------------------------------------------------------------

    def geometric_matrix(self, batch, height, width, p, draws, debug_percentile=None):
        """The inverse 2D transform [N, 3, 3] (output pixel -> input pixel, centred coordinates) of
        the blit and geometric ops, or None when the pipeline has none."""
        o, pct = self.ops, debug_percentile
        matrices = []
        if o["xflip"] > 0:
            i = tf.floor(draws.uniform([], 0.0, 2.0))
            i = _gate(draws, o["xflip"] * p, i, 0)
            if pct is not None:
                i = tf.floor(_percentile(pct, batch) * 2)
            matrices.append(scale2d(1 / (1 - 2 * i), 1, batch))
        if o["rotate90"] > 0:
            i = tf.floor(draws.uniform([], 0.0, 4.0))
            i = _gate(draws, o["rotate90"] * p, i, 0)
            if pct is not None:
                i = tf.floor(_percentile(pct, batch) * 4)
            matrices.append(rotate2d(np.pi / 2 * i, batch))
        if o["xint"] > 0:
            t = draws.uniform([2], -o["xint_max"], o["xint_max"])
            t = _gate(draws, o["xint"] * p, t, 0)
            if pct is not None:
                t = (_percentile(pct, batch, [2]) * 2 - 1) * o["xint_max"]
            matrices.append(translate2d(-tf.math.rint(t[:, 0] * width), -tf.math.rint(t[:, 1] * height), batch))
        if o["scale"] > 0:
            s = 2 ** draws.normal([], o["scale_std"])
            s = _gate(draws, o["scale"] * p, s, 1)
            if pct is not None:
                s = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["scale_std"])
            matrices.append(scale2d(1 / s, 1 / s, batch))
        # P(pre-rotation or post-rotation) = rotate * p.
        p_rot = 1 - tf.sqrt(tf.maximum(1 - o["rotate"] * p, 0.0))
        if o["rotate"] > 0:
            theta = draws.uniform([], -np.pi * o["rotate_max"], np.pi * o["rotate_max"])
            theta = _gate(draws, p_rot, theta, 0)
            if pct is not None:
                theta = (_percentile(pct, batch) * 2 - 1) * np.pi * o["rotate_max"]
            matrices.append(rotate2d(theta, batch))
        if o["aniso"] > 0:
            s = 2 ** draws.normal([], o["aniso_std"])
            s = _gate(draws, o["aniso"] * p, s, 1)
            if pct is not None:
                s = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["aniso_std"])
            matrices.append(scale2d(1 / s, s, batch))
        if o["rotate"] > 0:
            theta = draws.uniform([], -np.pi * o["rotate_max"], np.pi * o["rotate_max"])
            theta = _gate(draws, p_rot, theta, 0)
            if pct is not None:
                theta = tf.zeros([batch])
            matrices.append(rotate2d(theta, batch))
        if o["xfrac"] > 0:
            t = draws.normal([2], o["xfrac_std"])
            t = _gate(draws, o["xfrac"] * p, t, 0)
            if pct is not None:
                t = tf.math.erfinv(_percentile(pct, batch, [2]) * 2 - 1) * o["xfrac_std"]
            matrices.append(translate2d(-t[:, 0] * width, -t[:, 1] * height, batch))
        if not matrices:
            return None
        result = matrices[0]
        for matrix in matrices[1:]:
            result = result @ matrix
        return result

    def color_matrix(self, batch, channels, p, draws, debug_percentile=None):
        """The colour transform [N, 4, 4] (homogeneous RGB) of the colour ops, or None."""
        o, pct = self.ops, debug_percentile
        eye = tf.eye(4, batch_shape=[batch])
        color = None

        def then(matrix):
            return matrix if color is None else matrix @ color

        if o["brightness"] > 0:
            b = draws.normal([], o["brightness_std"])
            b = _gate(draws, o["brightness"] * p, b, 0)
            if pct is not None:
                b = tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["brightness_std"]
            color = then(translate3d(b, b, b, batch))
        if o["contrast"] > 0:
            c = 2 ** draws.normal([], o["contrast_std"])
            c = _gate(draws, o["contrast"] * p, c, 1)
            if pct is not None:
                c = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["contrast_std"])
            color = then(scale3d(c, c, c, batch))
        luma = np.outer(LUMA_AXIS, LUMA_AXIS).astype(np.float32)
        if o["lumaflip"] > 0:
            i = tf.floor(draws.uniform([], 0.0, 2.0))
            i = _gate(draws, o["lumaflip"] * p, i, 0)
            if pct is not None:
                i = tf.floor(_percentile(pct, batch) * 2)
            color = then(eye - 2 * luma * i[:, None, None])  # Householder reflection about the luma axis
        if o["hue"] > 0 and channels > 1:
            theta = draws.uniform([], -np.pi * o["hue_max"], np.pi * o["hue_max"])
            theta = _gate(draws, o["hue"] * p, theta, 0)
            if pct is not None:
                theta = (_percentile(pct, batch) * 2 - 1) * np.pi * o["hue_max"]
            color = then(rotate3d(LUMA_AXIS, theta, batch))
        if o["saturation"] > 0 and channels > 1:
            s = 2 ** draws.normal([], o["saturation_std"])
            s = _gate(draws, o["saturation"] * p, s, 1)
            if pct is not None:
                s = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["saturation_std"])
            color = then(luma + (eye - luma) * s[:, None, None])
        return color

    def band_gains(self, batch, p, draws, debug_percentile=None):
        """[N, 4] gains of the filter bank's bands, normalised to the expected power spectrum."""
        o = self.ops
        power = tf.constant(BAND_EXPECTED_POWER, tf.float32)
        gains = tf.ones([batch, 4])
        for band, band_strength in enumerate(o["imgfilter_bands"]):
            gain = 2 ** draws.normal([], o["imgfilter_std"])
            gain = _gate(draws, o["imgfilter"] * p * band_strength, gain, 1)
            if debug_percentile is not None:
                gain = (2 ** (tf.math.erfinv(_percentile(debug_percentile, batch) * 2 - 1) * o["imgfilter_std"])
                        if band_strength > 0 else tf.ones([batch]))
            one = tf.one_hot(band, 4)
            band_gains = 1 + (gain[:, None] - 1) * one  # this band's gain, 1 elsewhere
            band_gains /= tf.sqrt(tf.reduce_sum(power * tf.square(band_gains), axis=-1, keepdims=True))
            gains *= band_gains
        return gains

    def _noise(self, x, p, draws, pct):
        sigma = tf.abs(draws.normal([], self.ops["noise_std"]))
        sigma = _gate(draws, self.ops["noise"] * p, sigma, 0)
        if pct is not None:
            sigma = tf.math.erfinv(_percentile(pct, x.shape[0])) * self.ops["noise_std"]
        return x + draws.noise_image(x.shape) * sigma[:, None, None, None]

    def _cutout(self, x, p, draws, pct):
        batch, height, width = x.shape[0], x.shape[1], x.shape[2]
        size = tf.fill([batch, 2], float(self.ops["cutout_size"]))
        size = _gate(draws, self.ops["cutout"] * p, size, 0)
        center = draws.uniform([2], 0.0, 1.0)
        if pct is not None:
            size = tf.fill([batch, 2], float(self.ops["cutout_size"]))
            center = _percentile(pct, batch, [2])
        coord_x = (tf.range(width, dtype=tf.float32) + 0.5) / width
        coord_y = (tf.range(height, dtype=tf.float32) + 0.5) / height
        outside_x = tf.abs(coord_x[None, None, :] - center[:, 0, None, None]) >= size[:, 0, None, None] / 2
        outside_y = tf.abs(coord_y[None, :, None] - center[:, 1, None, None]) >= size[:, 1, None, None] / 2
        return x * tf.cast(tf.logical_or(outside_x, outside_y), tf.float32)[..., None]


