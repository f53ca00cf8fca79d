"""Layers and ops against plain NumPy references, and the Keras layer contract."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import layers, networks, ops, xla
from stylegan_tf.networks import stylegan

from conftest import xla_compiled_calls

RNG = np.random.RandomState(1234)


def np_conv2d_same(x, kernel, stride=1):
    """Cross-correlation with SAME zero padding (TF's convention). x: NHWC, kernel: HWIO."""
    kh, kw, _, out = kernel.shape
    n, h, w, _ = x.shape
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + kh - h, 0)
    pad_w = max((out_w - 1) * stride + kw - w, 0)
    padded = np.pad(x, [(0, 0), (pad_h // 2, pad_h - pad_h // 2),
                        (pad_w // 2, pad_w - pad_w // 2), (0, 0)])
    result = np.zeros((n, out_h, out_w, out))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            result[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return result


def np_upscale(x, factor=2):
    return x.repeat(factor, axis=1).repeat(factor, axis=2)


def np_downscale(x, factor=2):
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def test_blur_matches_numpy_and_the_original_border_values():
    x = RNG.randn(2, 8, 8, 3).astype(np.float32)
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    depthwise = np.zeros((3, 3, 3, 3))
    for channel in range(3):
        depthwise[:, :, channel, channel] = kernel
    np.testing.assert_allclose(ops.blur2d(x).numpy(), np_conv2d_same(x, depthwise), atol=1e-6)
    ones = ops.blur2d(np.ones((1, 4, 4, 1), np.float32)).numpy()[0, :, :, 0]
    assert ones[0, 0] == pytest.approx(0.5625) and ones[0, 1] == pytest.approx(0.75)
    assert ones[1, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("blur_filter", [[1, 2, 1], [1, 3, 3, 1], [[1, 2, 1], [0, 1, 0], [2, 1, 1]]])
def test_blur_under_xla_matches_the_depthwise_reference(blur_filter):
    x = RNG.randn(2, 8, 8, 3).astype(np.float32)
    xla = tf.function(lambda x: ops.blur2d(x, blur_filter), jit_compile=True)(x).numpy()
    np.testing.assert_allclose(xla, ops.blur2d(x, blur_filter).numpy(), rtol=1e-5, atol=1e-6)


def test_upscale_and_downscale_match_numpy():
    x = RNG.randn(2, 4, 4, 3).astype(np.float32)
    np.testing.assert_array_equal(ops.upscale2d(x).numpy(), np_upscale(x))
    np.testing.assert_array_equal(ops.upscale2d(x, 4).numpy(), np_upscale(x, 4))
    y = RNG.randn(2, 8, 8, 3).astype(np.float32)
    np.testing.assert_allclose(ops.downscale2d(y).numpy(), np_downscale(y), atol=1e-6)
    np.testing.assert_allclose(ops.downscale2d(y, 4).numpy(), np_downscale(y, 4), atol=1e-6)


def test_fused_upscale_conv_is_upsampling_plus_rotated_kernel():
    x = RNG.randn(2, 5, 5, 4).astype(np.float32)
    kernel = RNG.randn(3, 3, 4, 6).astype(np.float32)
    fused = ops.upscale2d_conv2d(x, kernel, fused=True).numpy()
    reference = np_conv2d_same(np_upscale(x), kernel[::-1, ::-1])
    np.testing.assert_allclose(fused, reference, rtol=1e-4, atol=1e-4)
    plain = ops.upscale2d_conv2d(x, kernel, fused=False).numpy()
    np.testing.assert_allclose(plain, np_conv2d_same(np_upscale(x), kernel), rtol=1e-4, atol=1e-4)
    # Under XLA the fused form runs as a 3x3 conv per output phase + depth_to_space: the same function.
    compiled = tf.function(lambda x, k: ops.upscale2d_conv2d(x, k, fused=True), jit_compile=True)
    np.testing.assert_allclose(compiled(x, kernel).numpy(), reference, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops._upscale2d_conv2d_phases(x, kernel).numpy(), reference, rtol=1e-4, atol=1e-4)


def test_fused_downscale_conv_equals_conv_then_box():
    x = RNG.randn(2, 8, 8, 4).astype(np.float32)
    kernel = RNG.randn(3, 3, 4, 5).astype(np.float32)
    reference = np_downscale(np_conv2d_same(x, kernel))
    for fused in (True, False):
        np.testing.assert_allclose(ops.conv2d_downscale2d(x, kernel, fused).numpy(), reference,
                                   rtol=1e-4, atol=1e-4)


def traced_ops(function, *args):
    """(op types, number of calls XLA must compile) of `function` traced on `args`."""
    graph = tf.function(function).get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}, xla_compiled_calls(graph)


def under_tape(function):
    def taped(*args):
        with tf.GradientTape() as tape:
            tape.watch(args[0])
            return function(*args)
    return taped


@pytest.mark.parametrize("resample", ["up", "down"])
def test_full_resolution_resampling_runs_strided_only_without_a_tape(resample):
    size = ops.STRIDED_RESAMPLING_MIN_SIZE
    x = RNG.randn(1, size, size, 4).astype(np.float32)
    kernel = RNG.randn(3, 3, 4, 5).astype(np.float32)
    if resample == "up":
        reference = np_conv2d_same(np_upscale(x), kernel)
        call, original_form_op = (lambda x: ops.upscale2d_conv2d(x, kernel, fused=False)), "Tile"
    else:
        reference = np_downscale(np_conv2d_same(x, kernel))
        call, original_form_op = (lambda x: ops.conv2d_downscale2d(x, kernel, fused=False)), "AvgPool"
    np.testing.assert_allclose(call(x).numpy(), reference, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tf.function(call)(x).numpy(), reference, rtol=1e-4, atol=1e-4)
    assert original_form_op not in traced_ops(call, x)[0]
    assert original_form_op in traced_ops(under_tape(call), x)[0]  # the original's rounding for gradients
    smaller = x[:, :size // 2, :size // 2]
    assert original_form_op in traced_ops(call, smaller)[0]


def test_style_epilogue_runs_as_an_xla_cluster_only_where_it_pays():
    side = int(np.sqrt(ops.FUSED_EPILOGUE_MIN_PIXELS))
    rng = np.random.RandomState(7)
    x = tf.constant(rng.randn(1, side, side, 3).astype(np.float32) * 2 + 1)
    noise = tf.constant(rng.randn(1, side, side, 1).astype(np.float32))
    per_channel = [tf.constant(rng.randn(3).astype(np.float32)) for _ in range(2)]
    styles = [tf.constant(rng.randn(1, 1, 1, 3).astype(np.float32) * 0.3) for _ in range(2)]

    def epilogue(x, noise):
        return ops.fused_style_epilogue(x, noise, *per_channel, "lrelu", False, True, *styles)

    def in_float64(use_pixel_norm, use_instance_norm):
        return ops.style_epilogue(*(tf.cast(v, tf.float64) for v in (x, noise, *per_channel)), "lrelu",
                                  use_pixel_norm, use_instance_norm, *(tf.cast(v, tf.float64) for v in styles))

    plain = ops.style_epilogue(x, noise, *per_channel, "lrelu", False, True, *styles)
    exact = in_float64(False, True)
    fused = tf.function(epilogue)(x, noise).numpy()
    np.testing.assert_allclose(fused, exact.numpy(), atol=1e-5)
    # TensorFlow's kernels compute the same function, their float32 means over 512x512 values
    # rounding more (1.7e-4 to 5.9e-4 from float64, measured).
    np.testing.assert_allclose(plain.numpy(), fused, atol=1e-3)
    # The instance norm's statistics per row band (a sum, then squared deviations), then the rest.
    clusters_per_epilogue = 2 * ops.STATISTICS_ROW_BANDS + 1
    assert traced_ops(epilogue, x, noise)[1] == clusters_per_epilogue
    assert traced_ops(under_tape(epilogue), x, noise)[1] == 0   # TensorFlow's gradient kernels are faster
    half = side // 2
    assert traced_ops(epilogue, x[:, :half, :half], noise[:, :half, :half])[1] == 0  # too small to pay

    def without_clusters(x, noise):
        with xla.elementwise_clusters(False):
            return epilogue(x, noise)

    assert traced_ops(without_clusters, x, noise)[1] == 0
    whole = tf.function(epilogue, jit_compile=True)  # compiled whole: nothing nested
    np.testing.assert_allclose(whole(x, noise).numpy(), exact.numpy(), atol=1e-5)

    # Pixel norm instead (no statistics over H and W): one cluster.
    def pixel_norm_epilogue(x, noise):
        return ops.fused_style_epilogue(x, noise, *per_channel, "lrelu", True, False, *styles)

    np.testing.assert_allclose(tf.function(pixel_norm_epilogue)(x, noise).numpy(), in_float64(True, False).numpy(),
                               atol=1e-5)
    assert traced_ops(pixel_norm_epilogue, x, noise)[1] == 1


def np_minibatch_stddev(x, group_size, num_features):
    n, h, w, c = x.shape
    groups = min(group_size, n)
    m = n // groups
    out = np.zeros((n, h, w, num_features))
    for index in range(m):
        members = x[index::m]  # strided: group `index` holds samples index, index + M, ...
        std = np.sqrt(members.var(axis=0) + 1e-8)  # [H, W, C]
        per_feature = std.reshape(h, w, num_features, c // num_features).mean(axis=(0, 1, 3))
        out[index::m] = per_feature
    return np.concatenate([x, out], axis=-1)


@pytest.mark.parametrize("batch,group_size,num_features", [(8, 4, 1), (2, 4, 1), (6, 3, 2),
                                                           (4, 4, 4)])
def test_minibatch_stddev_uses_strided_groups(batch, group_size, num_features):
    x = RNG.randn(batch, 4, 4, 8).astype(np.float32)
    ours = ops.minibatch_stddev(x, group_size, num_features).numpy()
    np.testing.assert_allclose(ours, np_minibatch_stddev(x, group_size, num_features),
                               rtol=1e-5, atol=1e-6)


def test_instance_norm_and_pixel_norm_match_numpy():
    x = RNG.randn(3, 4, 4, 5).astype(np.float32) * 3 + 1
    centered = x - x.mean(axis=(1, 2), keepdims=True)
    expected = centered / np.sqrt((centered**2).mean(axis=(1, 2), keepdims=True) + 1e-8)
    np.testing.assert_allclose(ops.instance_norm(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    expected = x / np.sqrt((x**2).mean(axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(ops.pixel_norm(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_truncation_matches_numpy():
    dlatents = RNG.randn(2, 6, 4).astype(np.float32)
    avg = RNG.randn(4).astype(np.float32)
    ours = networks.truncate_dlatents(dlatents, avg, 0.7, 4).numpy()
    coefs = np.where(np.arange(6) < 4, 0.7, 1.0)[np.newaxis, :, np.newaxis]
    np.testing.assert_allclose(ours, avg + (dlatents - avg) * coefs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("flags,expected", [
    (dict(psi=0.7, cutoff=8), (0.7, 8, None, None)),
    (dict(psi=1, cutoff=8), (None, 8, None, None)),           # psi == 1 disables
    (dict(psi=0.5, cutoff=None), (0.5, None, None, None)),    # cutoff None disables truncation
    (dict(psi=0.5, cutoff=0), (0.5, None, None, None)),       # cutoff <= 0 disables
    (dict(is_validation=True, psi_val=0.3), (0.3, None, None, None)),
    (dict(is_training=True), (None, None, 0.995, 0.9)),
    (dict(is_training=True, avg_beta=1, mixing_prob=0), (None, None, None, None)),
])
def test_truncation_flags_resolve_as_the_original(flags, expected):
    args = dict(is_training=False, is_validation=False, psi=0.7, cutoff=8, psi_val=None,
                cutoff_val=None, avg_beta=0.995, mixing_prob=0.9)
    args.update(flags)
    assert stylegan._truncation_settings(**args) == expected


def test_mixing_crossover_rule():
    first = np.zeros((2, 6, 3), np.float32)
    second = np.ones((2, 6, 3), np.float32)
    mixed = networks.mix_at_cutoff(first, second, 4).numpy()
    np.testing.assert_array_equal(mixed[:, :4], 0)
    np.testing.assert_array_equal(mixed[:, 4:], 1)


def tiny_generator(**kwargs):
    config = dict(resolution=16, num_channels=3, fmap_base=64, fmap_max=16, latent_size=8,
                  dlatent_size=8, mapping_fmaps=8, mapping_layers=2)
    config.update(kwargs)
    return networks.Generator(**config)


def mixing_cutoffs(G, lod, trials=200):
    """Observed style-mixing cutoffs: the first layer whose dlatents differ from the unmixed."""
    G.lod.assign(lod)
    tf.random.set_seed(7)
    latents = RNG.randn(2, G.latent_size).astype(np.float32)
    unmixed = G.mapping(latents).numpy()
    cutoffs = []
    for _ in range(trials):
        mixed = G.compute_dlatents(latents, is_training=True, style_mixing_prob=0.9,
                                   dlatent_avg_beta=None).numpy()
        differs = np.any(mixed != unmixed, axis=(0, 2))
        cutoffs.append(int(np.argmax(differs)) if differs.any() else G.num_layers)
    G.lod.assign(0.0)
    return np.array(cutoffs)


def test_style_mixing_cutoff_is_uniform_in_1_to_cur_layers_minus_1():
    G = tiny_generator()  # 6 layers
    cutoffs = mixing_cutoffs(G, lod=0.0)
    assert set(cutoffs) <= set(range(1, 7))
    assert set(range(1, 6)) <= set(cutoffs)  # every mixing cutoff occurs
    assert 0.8 < np.mean(cutoffs < 6) < 0.97  # mixing probability 0.9
    # At lod 1.5 only int(lod) = 1 level is dropped: cur_layers = 6 - 2 = 4.
    cutoffs = mixing_cutoffs(G, lod=1.5)
    assert set(cutoffs) <= {1, 2, 3, 4} and set(cutoffs) == {1, 2, 3, 4}


def test_dlatent_avg_update():
    G = tiny_generator()
    G.dlatent_avg.assign(np.full(G.dlatent_size, 0.5, np.float32))
    latents = RNG.randn(4, G.latent_size).astype(np.float32)
    batch_avg = G.mapping(latents).numpy()[:, 0].mean(axis=0)
    G.compute_dlatents(latents, is_training=True, style_mixing_prob=None)
    np.testing.assert_allclose(G.dlatent_avg.numpy(), batch_avg + (0.5 - batch_avg) * 0.995,
                               rtol=1e-5, atol=1e-6)


def test_equalized_dense_scales_at_runtime():
    dense = layers.EqualizedDense(3, gain=np.sqrt(2), use_wscale=True, lrmul=0.01)
    dense.build((None, 4))
    assert dense.weight_multiplier == pytest.approx(np.sqrt(2) / 2 * 0.01)
    dense.weight.assign(RNG.randn(4, 3).astype(np.float32))
    dense.bias.assign(np.array([1.0, -2.0, 3.0], np.float32))
    x = RNG.randn(2, 4).astype(np.float32)
    expected = x @ (dense.weight.numpy() * np.sqrt(2) / 2 * 0.01) + np.array([1, -2, 3]) * 0.01
    np.testing.assert_allclose(dense(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    mapping_dense = layers.EqualizedDense(512, lrmul=0.01)
    mapping_dense.build((None, 512))
    assert np.std(mapping_dense.weight.numpy()) == pytest.approx(100, rel=0.02)  # init 1/lrmul


LAYER_CASES = [
    (layers.EqualizedDense, dict(units=5, lrmul=0.01, activation="lrelu"), [(3, 4)]),
    (layers.EqualizedConv2D, dict(filters=4, kernel_size=3, resample="up", fused_scale=True),
     [(2, 4, 4, 3)]),
    (layers.EqualizedConv2D, dict(filters=4, kernel_size=3, resample="down", use_bias=True,
                                  activation="lrelu"), [(2, 8, 8, 3)]),
    (layers.Bias, dict(lrmul=0.5), [(2, 4, 4, 3)]),
    (layers.Blur2D, dict(blur_filter=[1, 3, 3, 1]), [(2, 8, 8, 3)]),
    (layers.MinibatchStddev, dict(group_size=2, num_new_features=1), [(4, 4, 4, 3)]),
    (layers.NoiseInjection, dict(), [(2, 4, 4, 3), (2, 4, 4, 1)]),
    (layers.StyleModulation, dict(), [(2, 4, 4, 3), (2, 6)]),
    (layers.LayerEpilogue, dict(use_pixel_norm=True), [(2, 4, 4, 3), (2, 6), (1, 4, 4, 1)]),
]


@pytest.mark.parametrize("cls,config,shapes", LAYER_CASES, ids=lambda v: getattr(v, "__name__",
                                                                                  None))
def test_layer_config_round_trip(cls, config, shapes):
    inputs = [RNG.randn(*shape).astype(np.float32) for shape in shapes]
    layer = cls(**config)
    out = layer(*inputs)
    for variable in layer.weights:  # non-zero values so that every weight matters
        variable.assign(RNG.randn(*variable.shape).astype(np.float32))
    out = layer(*inputs)
    clone = cls.from_config(layer.get_config())
    clone(*inputs)
    for target, source in zip(clone.weights, layer.weights):
        target.assign(source)
    np.testing.assert_array_equal(clone(*inputs).numpy(), out.numpy())
    assert clone.get_config() == layer.get_config()
    assert keras.saving.get_registered_object(
        keras.saving.get_registered_name(cls)) is cls
