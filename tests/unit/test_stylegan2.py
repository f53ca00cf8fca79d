"""StyleGAN2 networks beyond the fixture parity (tests/test_parity.py): FIR resampling against a
NumPy transcription of the original op, every architecture, the modulated convolution's forms,
compilation, Keras saving, the pickle format and the release's parameter counts."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import layers, legacy, networks
from stylegan_tf.ops import upfirdn

from original_fixtures import output_error

RNG = np.random.RandomState(7)
TINY_G = dict(resolution=16, num_channels=3, fmap_base=64, fmap_max=16, latent_size=8, dlatent_size=8,
              mapping_fmaps=8, mapping_layers=2)
TINY_D = dict(resolution=16, num_channels=3, fmap_base=64, fmap_max=16)


def randomize(net, seed=0):
    rng = np.random.RandomState(seed)
    for name, variable in legacy.original_variables(net).items():
        if not name.endswith("lod"):
            scale = 100.0 if "G_mapping/Dense" in name and "weight" in name else 1.0
            variable.assign(np.asarray(rng.randn(*variable.shape), np.float32) * scale)
    return net


# ---- upfirdn2d ---------------------------------------------------------------------------------


def numpy_upfirdn(x, kernel, up=1, down=1, pad0=0, pad1=0):
    """The original's `_upfirdn_2d_ref` written out in NumPy on [N, H, W, C]."""
    n, h, w, c = x.shape
    y = np.zeros([n, h * up, w * up, c], np.float64)
    y[:, ::up, ::up] = x
    y = np.pad(y, [(0, 0), (max(pad0, 0), max(pad1, 0)), (max(pad0, 0), max(pad1, 0)), (0, 0)])
    y = y[:, max(-pad0, 0):y.shape[1] - max(-pad1, 0), max(-pad0, 0):y.shape[2] - max(-pad1, 0)]
    k = np.asarray(kernel, np.float64)[::-1, ::-1]
    kh, kw = k.shape
    out = np.zeros([n, y.shape[1] - kh + 1, y.shape[2] - kw + 1, c])
    for i in range(kh):
        for j in range(kw):
            out += y[:, i:i + out.shape[1], j:j + out.shape[2]] * k[i, j]
    return out[:, ::down, ::down]


@pytest.mark.parametrize("kernel", [[1, 3, 3, 1], None, [1, 2, 1], [[1, 2], [3, 4]], [1, 1, 1, 1, 1]])
def test_resampling_wrappers_match_the_reference_op(kernel):
    x = RNG.randn(2, 8, 8, 3).astype(np.float32)
    k = upfirdn.setup_kernel(kernel)
    p = k.shape[0] - 2
    np.testing.assert_allclose(upfirdn.upsample_2d(x, kernel).numpy(),
                               numpy_upfirdn(x, k * 4, up=2, pad0=(p + 1) // 2 + 1, pad1=p // 2), atol=1e-5)
    np.testing.assert_allclose(upfirdn.downsample_2d(x, kernel).numpy(),
                               numpy_upfirdn(x, k, down=2, pad0=(p + 1) // 2, pad1=p // 2), atol=1e-5)
    for size in (1, 3):
        weight = RNG.randn(size, size, 3, 5).astype(np.float32)
        up = upfirdn.upsample_conv_2d(x, weight, kernel).numpy()
        # upsample_conv_2d = zero insertion with the 4K FIR, then VALID cross-correlation with w.
        q = (k.shape[0] - 2) - (size - 1)
        fir = numpy_upfirdn(x, k * 4, up=2, pad0=(q + 1) // 2 + size, pad1=q // 2 + size - 1)
        expected = tf.nn.conv2d(fir.astype(np.float32), weight, 1, "VALID").numpy()
        assert up.shape == (2, 16, 16, 5)
        np.testing.assert_allclose(up, expected, atol=1e-4)
        down = upfirdn.conv_downsample_2d(x, weight, kernel).numpy()
        q = (k.shape[0] - 2) + (size - 1)
        fir = numpy_upfirdn(x, k, pad0=(q + 1) // 2, pad1=q // 2).astype(np.float32)
        np.testing.assert_allclose(down, tf.nn.conv2d(fir, weight, 2, "VALID").numpy(), atol=1e-4)
        assert down.shape == (2, 4, 4, 5)


def test_resampling_of_a_constant_image():
    ones = np.ones([1, 4, 4, 1], np.float32)
    up = upfirdn.upsample_2d(ones, [1, 3, 3, 1]).numpy()[0, :, :, 0]
    assert up[3, 3] == pytest.approx(1.0) and up[0, 3] == pytest.approx(0.75) and up[0, 0] == pytest.approx(0.5625)
    np.testing.assert_allclose(upfirdn.downsample_2d(ones, [1, 3, 3, 1]).numpy(), 0.765625)
    np.testing.assert_array_equal(upfirdn.upsample_2d(np.arange(4.0, dtype=np.float32).reshape(1, 2, 2, 1), None)
                                  .numpy()[0, :, :, 0], np.kron(np.arange(4.0).reshape(2, 2), np.ones([2, 2])))


def test_bad_resample_kernels_are_errors():
    for kernel in ([0, 0], [[1, 2, 3]], []):
        with pytest.raises(ValueError, match="resample_kernel"):
            upfirdn.setup_kernel(kernel)


# ---- networks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("g_arch", ["orig", "skip", "resnet"])
@pytest.mark.parametrize("d_arch", ["orig", "skip", "resnet"])
def test_every_architecture_pair_runs_and_names_every_variable(g_arch, d_arch):
    G = randomize(networks.GeneratorMain(**TINY_G, architecture=g_arch, label_size=2))
    D = randomize(networks.DiscriminatorStyleGAN2(**TINY_D, architecture=d_arch, label_size=2))
    labels = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    images = G(RNG.randn(4, 8), labels, randomize_noise=False)
    scores = D(images, labels)
    assert images.shape == (4, 16, 16, 3) and scores.shape == (4, 1)
    assert np.all(np.isfinite(images.numpy())) and np.all(np.isfinite(scores.numpy()))
    for net in (G, D):
        assert {id(v) for v in legacy.original_variables(net).values()} == {id(v) for v in net.weights}
    names = legacy.original_variables(G)
    assert ("G_synthesis/16x16/Skip/weight" in names) == (g_arch == "resnet")
    assert ("G_synthesis/4x4/ToRGB/weight" in names) == (g_arch == "skip")
    assert len([name for name in names if "noise" in name and "strength" not in name]) == G.num_layers - 1


def test_release_parameter_counts():
    """The StyleGAN2 release's config F at 1024x1024 (SPEC-SG2 7.2-7.3)."""
    count = lambda net: sum(int(np.prod(v.shape)) for v in net.trainable_variables)  # noqa: E731
    assert count(networks.GeneratorMain()) == 30_370_060
    assert count(networks.DiscriminatorStyleGAN2()) == 29_012_513
    assert count(networks.GeneratorMain(architecture="orig")) == 28_817_908


@pytest.mark.parametrize("cls,kwargs,message", [
    (networks.GeneratorMain, dict(fmap_maximum=3), "fmap_maximum"),
    (networks.GeneratorMain, dict(architecture="dense"), "architecture"),
    (networks.GeneratorMain, dict(synthesis_func="G_synthesis"), "synthesis_func"),
    (networks.DiscriminatorStyleGAN2, dict(latent_size=3), "latent_size"),
    (networks.DiscriminatorRevised, dict(architecture="skip"), "architecture"),
    (networks.GeneratorMain, dict(nonlinearity="gelu"), "gelu"),
])
def test_bad_keyword_arguments_are_named(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**TINY_G if cls is networks.GeneratorMain else TINY_D, **kwargs)


def test_stylegan2_truncation_semantics():
    G = randomize(networks.GeneratorMain(**TINY_G))
    latents = RNG.randn(3, 8)
    w = G.mapping(latents, None).numpy()
    avg = G.dlatent_avg.numpy()
    np.testing.assert_allclose(G.compute_dlatents(latents).numpy(), avg + (w - avg) * 0.5, rtol=1e-5, atol=1e-5)
    cut = G.compute_dlatents(latents, truncation_psi=0.7, truncation_cutoff=2).numpy()
    np.testing.assert_allclose(cut[:, :2], (avg + (w - avg) * 0.7)[:, :2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cut[:, 2:], w[:, 2:], rtol=1e-6, atol=1e-6)
    # A cutoff of 0 truncates no layer (in StyleGAN it means no truncation at all, the same here).
    np.testing.assert_allclose(G.compute_dlatents(latents, truncation_cutoff=0).numpy(), w, rtol=1e-6, atol=1e-6)


def test_fused_and_non_fused_modconv_agree_on_a_fixture():
    from original_fixtures import all_fixture_dirs, load_fixture, nchw_to_nhwc
    directory = next(path for path in all_fixture_dirs() if path.name.startswith("f-"))
    fixture = load_fixture(directory)
    _, _, Gs = fixture.networks
    other = networks.GeneratorMain(name="Gs", **{**Gs.static_kwargs, "fused_modconv": False})
    for target, source in zip(other.weights, Gs.weights):
        target.assign(source)
    images = other.synthesis(fixture.arrays["synthesis_dlatents_in"], randomize_noise=False)
    assert output_error(images, nchw_to_nhwc(fixture.arrays["Gs_synthesis_images"])) <= 1e-4


@pytest.mark.parametrize("synthesis_func", ["G_synthesis_stylegan2", "G_synthesis_stylegan_revised"])
def test_tf_function_and_xla_agree_with_eager(synthesis_func):
    G = randomize(networks.GeneratorMain(**TINY_G, synthesis_func=synthesis_func))
    D = randomize(networks.DiscriminatorStyleGAN2(**TINY_D) if synthesis_func.endswith("2")
                  else networks.DiscriminatorRevised(**TINY_D))
    latents = tf.constant(RNG.randn(4, 8).astype(np.float32))
    if synthesis_func.endswith("revised"):
        G.lod.assign(0.6)
        D.lod.assign(0.6)

    def step(latents):
        images = G(latents, None, is_training=True, style_mixing_prob=None, dlatent_avg_beta=None,
                   randomize_noise=False)
        return images, D(images)

    eager = step(latents)
    for compiled in (tf.function(step), tf.function(step, jit_compile=True)):
        for ours, reference in zip(compiled(latents), eager):
            np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("which", ["G", "D", "G_revised", "D_revised"])
def test_keras_save_and_reload_give_identical_outputs(tmp_path, which):
    if which.startswith("D"):
        cls = networks.DiscriminatorRevised if which.endswith("revised") else networks.DiscriminatorStyleGAN2
        net = randomize(cls(**TINY_D))
        inputs = RNG.randn(4, 16, 16, 3).astype(np.float32)
        run = lambda model: model(inputs)  # noqa: E731
    else:
        func = "G_synthesis_stylegan_revised" if which.endswith("revised") else "G_synthesis_stylegan2"
        net = randomize(networks.GeneratorMain(**TINY_G, synthesis_func=func))
        latents = RNG.randn(3, 8).astype(np.float32)
        run = lambda model: model(latents, None, randomize_noise=False)  # noqa: E731
    path = tmp_path / f"{which}.keras"
    net.save(path)
    reloaded = keras.models.load_model(path)
    assert type(reloaded) is type(net)
    np.testing.assert_array_equal(run(reloaded).numpy(), run(net).numpy())


def test_save_load_round_trip_keeps_every_variable_and_the_version(tmp_path):
    G = randomize(networks.GeneratorMain(**TINY_G, architecture="resnet", label_size=3))
    D = randomize(networks.DiscriminatorStyleGAN2(**TINY_D, label_size=3))
    Gs = G.clone("Gs")
    legacy.save_networks(tmp_path / "sg2.pkl", G, D, Gs)
    states = legacy.read_pickle(tmp_path / "sg2.pkl")
    assert [state.state["version"] for state in states] == [4, 4, 4]
    assert states[0].state["build_func_name"] == "G_main"
    assert states[0].state["components"]["synthesis"].state["build_func_name"] == "G_synthesis_stylegan2"
    for original, loaded in zip((G, D, Gs), legacy.load_networks(tmp_path / "sg2.pkl")):
        for (name, a), b in zip(legacy.original_variables(original).items(),
                                legacy.original_variables(loaded).values()):
            assert a.numpy().tobytes() == b.numpy().tobytes(), name


def test_version_5_is_read_as_stylegan2_ada(tmp_path):
    from original_fixtures import all_fixture_dirs
    directory = next(path for path in all_fixture_dirs() if path.name.startswith("e-"))
    states = list(legacy.read_pickle(directory / "network.pkl"))
    states[0].state["version"] = 5  # StyleGAN2's G_main claiming to be StyleGAN2-ADA's: it has a lod
    legacy._write_atomically(tmp_path / "ada.pkl", tuple(states))
    with pytest.raises(legacy.LegacyPickleError, match=
                       "G stores variables that the rebuilt network does not have: lod"):
        legacy.load_networks(tmp_path / "ada.pkl")
    states[0].state["build_func_name"] = "G_synthesis_stylegan2"
    legacy._write_atomically(tmp_path / "ada.pkl", tuple(states))
    with pytest.raises(legacy.LegacyPickleError, match="not one of StyleGAN2-ADA's .state version 5.; expected one "
                                                       "of G_main, D_main"):
        legacy.load_networks(tmp_path / "ada.pkl")


def test_modulated_conv_demodulation_normalises_output_channels():
    layer = layers.ModulatedConv2D(4, 3, use_noise=False, activation="linear", name="m")
    layer.build((None, 6, 6, 5), (None, 8))
    layer.weight.assign(RNG.randn(3, 3, 5, 4).astype(np.float32))
    layer.mod_weight.assign(RNG.randn(8, 5).astype(np.float32))
    w = RNG.randn(2, 8).astype(np.float32)
    x = RNG.randn(2, 6, 6, 5).astype(np.float32)
    ours = layer(x, w).numpy()
    s = layer.styles(w).numpy()
    weight = layer.weight.numpy() / np.sqrt(45)
    for n in range(2):
        ww = weight * s[n][np.newaxis, np.newaxis, :, np.newaxis]
        ww = ww / np.sqrt(np.sum(ww ** 2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        expected = tf.nn.conv2d(x[n:n + 1], ww, 1, "SAME").numpy()[0]
        np.testing.assert_allclose(ours[n], expected, rtol=1e-4, atol=1e-4)


def test_stylegan2_pickles_may_carry_kwargs_the_original_ignores(tmp_path):
    """G_main and D_stylegan2 take **kwargs and ignore unknown keys; so does the loader, and saving
    writes them back (StyleGAN's pickles stay strict: tests/test_legacy.py)."""
    from original_fixtures import all_fixture_dirs
    directory = next(path for path in all_fixture_dirs() if path.name.startswith("e-"))
    states = list(legacy.read_pickle(directory / "network.pkl"))
    for state in states:
        state.state["static_kwargs"]["num_fp16_res"] = 0
    legacy._write_atomically(tmp_path / "extra.pkl", tuple(states))
    G, D, Gs = legacy.load_networks(tmp_path / "extra.pkl")
    legacy.save_networks(tmp_path / "resaved.pkl", G, D, Gs)
    resaved = legacy.read_pickle(tmp_path / "resaved.pkl")
    assert all(state.state["static_kwargs"]["num_fp16_res"] == 0 for state in resaved)
    assert resaved[0].state["components"]["synthesis"].state["static_kwargs"]["num_fp16_res"] == 0
    with pytest.raises(ValueError, match="num_fp16_res"):
        networks.GeneratorMain(**TINY_G, num_fp16_res=0)  # the Python API stays strict
