"""The augmentation pipeline beyond the release's fixtures (`tests/parity/test_augment_parity.py`):
probabilities, replica-independent draws, XLA, second-order gradients, mixed precision, errors."""

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import augment, names


def _images(batch=4, size=32, channels=3, seed=0):
    return tf.constant(np.random.RandomState(seed).uniform(-1, 1, [batch, size, size, channels]).astype(np.float32))


def test_presets_enable_the_releases_ops():
    assert set(names.AUGMENT_PIPES) == {"blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf",
                                        "bgcfn", "bgcfnc"}
    ops = augment.pipeline_ops("bgcfnc")
    assert all(ops[op] == 1.0 for op in names.AUGMENT_OPS)
    assert augment.pipeline_ops("bgc")["imgfilter"] == 0.0 and augment.pipeline_ops("bgc")["hue"] == 1.0
    assert augment.pipeline_ops("blit", xflip=0.5)["xflip"] == 0.5  # any multiplier
    with pytest.raises(ValueError, match="augpipe must be one of"):
        augment.pipeline_ops("bgcx")
    with pytest.raises(ValueError, match="unknown augmentation option"):
        augment.AugmentPipeline("bgc", sharpen=1)


def test_each_op_fires_with_probability_multiplier_times_p():
    batch = 4000
    draws = augment.StatelessDraws(tf.constant([1, 2], tf.int64), batch)
    # xflip at p = 0.5: half the gated images flip, half of the time: 1/4 have a -1 x scale.
    matrix = augment.AugmentPipeline(None, xflip=1).geometric_matrix(batch, 8, 8, tf.constant(0.5), draws)
    flipped = float(np.mean(matrix.numpy()[:, 0, 0] < 0))
    assert 0.22 < flipped < 0.28
    # rotate: P(pre or post rotation) = p.
    pipeline = augment.AugmentPipeline(None, rotate=1)
    draws = augment.StatelessDraws(tf.constant([3, 4], tf.int64), batch)
    matrix = pipeline.geometric_matrix(batch, 8, 8, tf.constant(0.3), draws)
    rotated = float(np.mean(np.abs(matrix.numpy()[:, 0, 1]) > 1e-6))
    assert 0.27 < rotated < 0.33
    # p = 0: the identity (the geometric path still runs, as in the release: rounding only).
    images = _images()
    same = augment.AugmentPipeline("bgcfnc")(images, 0.0, augment.StatelessDraws(tf.constant([5, 6], tf.int64), 4))
    assert float(tf.reduce_max(tf.abs(same - images))) < 2e-6
    changed = augment.AugmentPipeline("bgc")(images, 1.0, augment.StatelessDraws(tf.constant([5, 6], tf.int64), 4))
    assert float(tf.reduce_mean(tf.abs(changed - images))) > 0.1


def test_draws_of_one_replica_are_its_rows_of_the_global_minibatch():
    """Parameters are drawn for the global minibatch: a replica's images are augmented as they would
    be on one replica (the noise image, drawn per slot, is left out here)."""
    seed = tf.constant([7, 8], tf.int64)
    images = _images(batch=8, size=24)
    pipeline = augment.AugmentPipeline("bgcf", cutout=1)
    whole = pipeline(images, 0.7, augment.StatelessDraws(seed, 8, rows=(8, 0))).numpy()
    for slot in range(2):
        part = pipeline(images[slot * 4:(slot + 1) * 4], 0.7, augment.StatelessDraws(seed, 4, rows=(8, slot)))
        np.testing.assert_allclose(part.numpy(), whole[slot * 4:(slot + 1) * 4], atol=1e-5)


def test_xla_static_and_dynamic_padding_agree():
    images = _images(batch=2, size=32)
    pipeline = augment.AugmentPipeline("bgc")  # the default preset (the warp is what XLA needed a new form of)

    def run(x, static):
        return pipeline(x, 0.8, augment.StatelessDraws(tf.constant([9, 9], tf.int64), 2), static_padding=static)

    eager = run(images, False).numpy()
    compiled = tf.function(lambda x: run(x, True), jit_compile=True)(images).numpy()
    np.testing.assert_allclose(compiled, eager, atol=2e-5)


def test_second_order_gradients_through_the_pipeline_under_xla():
    """R1 through the augmentation: d/dw |d sum D(aug(x)) / dx|^2 for a small conv 'D'."""
    images = _images(batch=2, size=32)
    kernel = tf.Variable(np.random.RandomState(1).normal(size=[3, 3, 3, 4]).astype(np.float32) * 0.2)
    pipeline = augment.AugmentPipeline("bgc")

    def penalty_grads(x):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                augmented = pipeline(x, 1.0, augment.StatelessDraws(tf.constant([1, 1], tf.int64), 2))
                scores = tf.reduce_sum(tf.nn.leaky_relu(tf.nn.conv2d(augmented, kernel, 1, "SAME")) ** 2)
            grads = inner.gradient(scores, x)
            penalty = tf.reduce_sum(tf.square(grads))
        return penalty, outer.gradient(penalty, kernel)

    penalty, grad = tf.function(penalty_grads, jit_compile=True)(images)
    penalty_eager, grad_eager = penalty_grads(images)
    assert np.isfinite(grad.numpy()).all() and float(tf.reduce_max(tf.abs(grad))) > 0
    np.testing.assert_allclose(penalty.numpy(), penalty_eager.numpy(), rtol=1e-4)
    np.testing.assert_allclose(grad.numpy(), grad_eager.numpy(), rtol=1e-3, atol=1e-3 * float(np.abs(grad_eager).max()))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_images_keep_their_dtype(dtype):
    images = _images(batch=2, size=32)
    pipeline = augment.AugmentPipeline("bgcfnc")
    draws = lambda: augment.StatelessDraws(tf.constant([2, 3], tf.int64), 2)  # noqa: E731
    reference = pipeline(images, 1.0, draws())
    low = pipeline(tf.cast(images, dtype), 1.0, draws())
    assert low.dtype == dtype
    assert float(tf.reduce_max(tf.abs(tf.cast(low, tf.float32) - reference))) < 0.1


def test_grayscale_images_and_bad_channel_counts():
    gray = _images(channels=1)
    out = augment.AugmentPipeline("bgcfnc")(gray, 1.0, augment.StatelessDraws(tf.constant([1, 5], tf.int64), 4))
    assert out.shape == gray.shape and np.isfinite(out.numpy()).all()
    with pytest.raises(ValueError, match="RGB .3. or grayscale .1."):
        augment.AugmentPipeline("color")(_images(channels=2), 1.0)
    with pytest.raises(ValueError, match="imgfilter augmentation .* needs images of at least 22x22, got 16x16"):
        augment.AugmentPipeline("bgcf")(_images(size=16), 1.0)
