"""Each fast op form (`stylegan_tf.ops.fast`) against its reference, and where each impl applies it."""

import numpy as np
import pytest
import tensorflow as tf
from numpy_ops import np_conv2d_same, np_downscale, np_upscale

from stylegan_tf import ops
from stylegan_tf.ops import fast, reference

from conftest import xla_compiled_calls

RNG = np.random.RandomState(4321)


def traced_ops(function, *args):
    """(op types, number of calls XLA must compile) of `function` traced on `args`."""
    graph = tf.function(function).get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}, xla_compiled_calls(graph)


def test_impl_names_are_checked():
    with pytest.raises(ValueError, match="impl must be one of ref, fast, xla"):
        fast.blur2d(tf.zeros([1, 4, 4, 1]), [1, 2, 1], "cuda")


@pytest.mark.parametrize("blur_filter", [[1, 2, 1], [1, 3, 3, 1], [[1, 2, 1], [0, 1, 0], [2, 1, 1]]])
def test_shifted_blur_matches_the_depthwise_reference(blur_filter):
    x = RNG.randn(2, 8, 8, 3).astype(np.float32)
    expected = reference.blur2d(x, blur_filter).numpy()
    np.testing.assert_allclose(fast.shifted_blur2d(x, blur_filter).numpy(), expected, rtol=1e-5, atol=1e-6)
    compiled = tf.function(lambda x: fast.blur2d(x, blur_filter, "xla"), jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert "DepthwiseConv2dNative" not in traced_ops(lambda x: fast.blur2d(x, blur_filter, "xla"), x)[0]
    for impl in ("ref", "fast"):  # the reference's depthwise conv
        assert "DepthwiseConv2dNative" in traced_ops(lambda x: fast.blur2d(x, blur_filter, impl), x)[0]


def test_phased_upscale_conv_matches_the_transposed_conv():
    x = RNG.randn(2, 5, 5, 4).astype(np.float32)
    kernel = RNG.randn(3, 3, 4, 6).astype(np.float32)
    expected = np_conv2d_same(np_upscale(x), kernel[::-1, ::-1])  # the fused form's function
    np.testing.assert_allclose(fast.phased_upscale2d_conv2d(x, kernel).numpy(), expected, rtol=1e-4, atol=1e-4)
    compiled = tf.function(lambda x: fast.upscale2d_conv2d(x, kernel, True, "xla"), jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert "DepthToSpace" in traced_ops(lambda x: fast.upscale2d_conv2d(x, kernel, True, "xla"), x)[0]
    assert "Conv2DBackpropInput" in traced_ops(lambda x: fast.upscale2d_conv2d(x, kernel, True, "ref"), x)[0]


@pytest.mark.parametrize("resample", ["up", "down"])
def test_fast_resampling_runs_strided_from_its_threshold(resample):
    size = fast.STRIDED_RESAMPLING_MIN_SIZE
    x = RNG.randn(1, size, size, 4).astype(np.float32)
    kernel = RNG.randn(3, 3, 4, 5).astype(np.float32)
    if resample == "up":
        expected = np_conv2d_same(np_upscale(x), kernel)
        call, original_form_op = (lambda x, impl: fast.upscale2d_conv2d(x, kernel, False, impl)), "Tile"
    else:
        expected = np_downscale(np_conv2d_same(x, kernel))
        call, original_form_op = (lambda x, impl: fast.conv2d_downscale2d(x, kernel, False, impl)), "AvgPool"
    for impl in ("ref", "fast", "xla"):
        np.testing.assert_allclose(call(x, impl).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert original_form_op not in traced_ops(lambda x: call(x, "fast"), x)[0]
    assert original_form_op in traced_ops(lambda x: call(x, "ref"), x)[0]
    smaller = x[:, :size // 2, :size // 2]
    assert original_form_op in traced_ops(lambda x: call(x, "fast"), smaller)[0]  # slower strided there


def test_fast_epilogue_runs_as_xla_clusters_where_it_pays():
    side = int(np.sqrt(fast.FUSED_EPILOGUE_MIN_PIXELS))
    rng = np.random.RandomState(7)
    x = tf.constant(rng.randn(1, side, side, 3).astype(np.float32) * 2 + 1)
    noise = tf.constant(rng.randn(1, side, side, 1).astype(np.float32))
    per_channel = [tf.constant(rng.randn(3).astype(np.float32)) for _ in range(2)]
    styles = [tf.constant(rng.randn(1, 1, 1, 3).astype(np.float32) * 0.3) for _ in range(2)]

    def epilogue(x, noise, impl="fast", pixel_norm=False, instance_norm=True):
        return fast.style_epilogue(x, noise, *per_channel, "lrelu", pixel_norm, instance_norm, *styles, impl)

    def in_float64(use_pixel_norm, use_instance_norm):
        return ops.style_epilogue(*(tf.cast(v, tf.float64) for v in (x, noise, *per_channel)), "lrelu",
                                  use_pixel_norm, use_instance_norm, *(tf.cast(v, tf.float64) for v in styles))

    exact = in_float64(False, True).numpy()
    clustered = tf.function(epilogue)(x, noise).numpy()
    np.testing.assert_allclose(clustered, exact, atol=1e-5)
    # TensorFlow's kernels compute the same function, their float32 means over 512x512 values
    # rounding more (1.7e-4 to 5.9e-4 from float64, measured).
    np.testing.assert_allclose(epilogue(x, noise, "ref").numpy(), clustered, atol=1e-3)
    # The instance norm's statistics per row band (a sum, then squared deviations), then the rest.
    assert traced_ops(epilogue, x, noise)[1] == 2 * fast.STATISTICS_ROW_BANDS + 1
    for impl in ("ref", "xla"):
        assert traced_ops(lambda x, noise: epilogue(x, noise, impl), x, noise)[1] == 0
    half = side // 2
    assert traced_ops(epilogue, x[:, :half, :half], noise[:, :half, :half])[1] == 0  # too small to pay
    whole = tf.function(epilogue, jit_compile=True)  # compiled whole: nested clusters are inlined
    np.testing.assert_allclose(whole(x, noise).numpy(), exact, atol=1e-5)
    # Pixel norm instead (no statistics over H and W): one cluster.
    pixel_norm = tf.function(lambda x, noise: epilogue(x, noise, pixel_norm=True, instance_norm=False))
    np.testing.assert_allclose(pixel_norm(x, noise).numpy(), in_float64(True, False).numpy(), atol=1e-5)
    assert xla_compiled_calls(pixel_norm.get_concrete_function(x, noise).graph) == 1


def test_fast_epilogue_of_16_bit_maps_clusters_from_64x64():
    """Mixed precision: 16-bit maps are clustered from FUSED_EPILOGUE_MIN_PIXELS_16BIT on (TensorFlow's
    CPU kernels run 16-bit element-wise ops slowly), as one cluster (banding them measured slower),
    and agree with the reference's 16-bit rounding."""
    side = int(np.sqrt(fast.FUSED_EPILOGUE_MIN_PIXELS_16BIT))
    rng = np.random.RandomState(3)
    args = [tf.constant(rng.randn(*shape).astype(np.float32)) for shape in
            [(2, side, side, 4), (2, side, side, 1), (4,), (4,), (2, 1, 1, 4), (2, 1, 1, 4)]]

    def epilogue(dtype, impl):
        def run(x, noise, weight, bias, scale, shift):
            cast = [tf.cast(value, dtype) for value in (x, noise, weight, bias, scale, shift)]
            return fast.style_epilogue(*cast[:4], "lrelu", False, True, *cast[4:], impl)
        return run

    for dtype, clusters in ((tf.bfloat16, 1), (tf.float16, 1), (tf.float32, 0)):
        assert traced_ops(epilogue(dtype, "fast"), *args)[1] == clusters, dtype
    smaller = [value[:, :side // 2, :side // 2] if len(value.shape) == 4 and value.shape[1] == side else value
               for value in args]
    assert traced_ops(epilogue(tf.bfloat16, "fast"), *smaller)[1] == 0
    fused = tf.function(epilogue(tf.bfloat16, "fast"))(*args)
    reference_form = epilogue(tf.bfloat16, "ref")(*args)
    assert fused.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(fused, tf.float32).numpy(), tf.cast(reference_form, tf.float32).numpy(),
                               atol=0.1, rtol=0.02)
