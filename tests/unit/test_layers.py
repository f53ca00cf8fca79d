"""Layers and ops against plain NumPy references, and the Keras layer contract."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy_ops import np_conv2d_same, np_downscale, np_upscale

from stylegan_tf import layers, names, networks, ops
from stylegan_tf.networks import truncation
from stylegan_tf.ops import fast

RNG = np.random.RandomState(1234)


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


def test_fused_downscale_conv_equals_conv_then_box():
    x = RNG.randn(2, 8, 8, 4).astype(np.float32)
    kernel = RNG.randn(3, 3, 4, 5).astype(np.float32)
    reference = np_downscale(np_conv2d_same(x, kernel))
    for fused in (True, False):
        np.testing.assert_allclose(ops.conv2d_downscale2d(x, kernel, fused).numpy(), reference,
                                   rtol=1e-4, atol=1e-4)


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
    assert truncation.truncation_settings(**args) == expected


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


# The layer harness: every layer of stylegan_tf.layers, with the inputs it is called on.
LAYER_CASES = [
    ("EqualizedDense", layers.EqualizedDense, dict(units=5, lrmul=0.01, activation="lrelu"), [(3, 4)]),
    ("EqualizedConv2D-up-fused", layers.EqualizedConv2D,
     dict(filters=4, kernel_size=3, resample="up", fused_scale=True), [(2, 4, 4, 3)]),
    ("EqualizedConv2D-up", layers.EqualizedConv2D, dict(filters=4, kernel_size=3, resample="up"), [(2, 16, 16, 3)]),
    ("EqualizedConv2D-down", layers.EqualizedConv2D,
     dict(filters=4, kernel_size=3, resample="down", use_bias=True, activation="lrelu", conv_clamp=0.5),
     [(2, 16, 16, 3)]),
    ("Blur2D", layers.Blur2D, dict(blur_filter=[1, 3, 3, 1]), [(2, 8, 8, 3)]),
    ("MinibatchStddev", layers.MinibatchStddev, dict(group_size=2, num_new_features=1), [(4, 4, 4, 3)]),
    ("LayerEpilogue-pixel-norm", layers.LayerEpilogue, dict(use_pixel_norm=True),
     [(2, 4, 4, 3), (2, 6), (1, 4, 4, 1)]),
    ("LayerEpilogue", layers.LayerEpilogue, dict(), [(2, 8, 8, 3), (2, 6), (2, 8, 8, 1)]),
    ("BiasActDense", layers.BiasActDense, dict(units=5, lrmul=0.01, activation="lrelu"), [(3, 2, 2, 2)]),
    ("FIRConv2D-up", layers.FIRConv2D, dict(filters=4, kernel_size=1, resample="up", use_bias=False),
     [(2, 4, 4, 3)]),
    ("FIRConv2D-down", layers.FIRConv2D, dict(filters=4, kernel_size=3, resample="down", activation="lrelu",
                                              conv_clamp=1.0), [(2, 8, 8, 3)]),
    ("ModulatedConv2D-up", layers.ModulatedConv2D, dict(filters=4, kernel_size=3, up=True, conv_clamp=2.0),
     [(2, 4, 4, 3), (2, 6), (2, 8, 8, 1)]),
    ("ModulatedConv2D-torgb", layers.ModulatedConv2D,
     dict(filters=3, kernel_size=1, demodulate=False, use_noise=False, activation="linear", fused_modconv=False),
     [(2, 4, 4, 3), (2, 6)]),
]
HARNESS_IDS = [case[0] for case in LAYER_CASES]


def _built(cls, config, inputs, seed=0, **extra):
    """The layer built and called on `inputs`, its variables set to seeded non-zero values (so that
    every weight matters), and its output."""
    layer = cls(**config, **extra)
    layer(*inputs)
    rng = np.random.RandomState(seed)
    for variable in layer.weights:
        variable.assign(np.asarray(rng.randn(*variable.shape), np.float32))
    return layer, layer(*inputs)


def _inputs(shapes):
    return [RNG.randn(*shape).astype(np.float32) for shape in shapes]


def test_the_harness_covers_every_layer():
    defined = {value for value in vars(layers).values() if isinstance(value, type)
               and issubclass(value, keras.layers.Layer) and value.__module__ == layers.__name__}
    assert defined == {cls for _, cls, _, _ in LAYER_CASES}


@pytest.mark.parametrize("name,cls,config,shapes", LAYER_CASES, ids=HARNESS_IDS)
def test_layer_config_round_trip(name, cls, config, shapes):
    inputs = _inputs(shapes)
    layer, out = _built(cls, config, inputs)
    clone = cls.from_config(layer.get_config())
    clone(*inputs)
    for target, source in zip(clone.weights, layer.weights):
        target.assign(source)
    np.testing.assert_array_equal(clone(*inputs).numpy(), out.numpy())
    assert clone.get_config() == layer.get_config()
    assert keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls


@pytest.mark.parametrize("name,cls,config,shapes", LAYER_CASES, ids=HARNESS_IDS)
def test_layer_save_and_reload(name, cls, config, shapes):
    """What a .keras archive stores of a layer: its serialized config and its own variables."""
    inputs = _inputs(shapes)
    layer, out = _built(cls, config, inputs)
    store = {}
    layer.save_own_variables(store)
    reloaded = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(reloaded) is cls
    reloaded(*inputs)
    reloaded.load_own_variables(store)
    np.testing.assert_array_equal(reloaded(*inputs).numpy(), out.numpy())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("name,cls,config,shapes", LAYER_CASES, ids=HARNESS_IDS)
def test_layer_in_each_precision(name, cls, config, shapes, precision):
    """Built under a mixed policy, a layer keeps float32 variables and stays near its float32 output."""
    inputs = _inputs(shapes)
    _, reference = _built(cls, config, inputs)
    layer, out = _built(cls, config, inputs, dtype=keras.DTypePolicy(names.PRECISIONS[precision]))
    assert {variable.dtype for variable in layer.weights} <= {"float32"}
    out = tf.cast(out, tf.float32).numpy()
    assert np.all(np.isfinite(out))
    scale = max(float(np.max(np.abs(reference))), 1.0)
    assert np.max(np.abs(out - reference.numpy())) <= 0.05 * scale


@pytest.mark.parametrize("impl", ["fast", "xla"])
@pytest.mark.parametrize("name,cls,config,shapes", [case for case in LAYER_CASES if "impl" in
                                                     inspect.signature(case[1].__init__).parameters],
                         ids=lambda value: value if isinstance(value, str) else None)
def test_layer_in_each_impl(name, cls, config, shapes, impl, monkeypatch):
    """Each op form (`ops.fast`, applied at every size here) computes the reference's function."""
    monkeypatch.setattr(fast, "FUSED_EPILOGUE_MIN_PIXELS", 0)
    monkeypatch.setattr(fast, "STRIDED_RESAMPLING_MIN_SIZE", 0)
    inputs = _inputs(shapes)
    _, reference = _built(cls, config, inputs)
    layer, out = _built(cls, config, inputs, impl=impl)
    assert layer.get_config()["impl"] == impl
    np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=1e-4, atol=1e-4)
