"""Mixed precision, set when a network is built (`networks.runtime.Runtime`): which layers change,
the error of each precision against float32 on the original's fixture networks, and a short bf16
training run that follows the float32 run's losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import names, networks
from stylegan_tf.networks.runtime import Runtime
from stylegan_tf.training import config as config_lib
from stylegan_tf.training import trainer

from original_fixtures import all_fixture_dirs, load_fixture

# Stated errors against float32 (images in [-1, 1]; PSNR over the range 2). Measured on the
# fixtures: bf16 31.6-44.8 dB, fp16 49.6-63.2 dB.
MIN_PSNR = {"bf16": 28.0, "fp16": 45.0}
MAX_D_SCORE_DIFFERENCE = {"bf16": 0.1, "fp16": 0.03}


def psnr(images, reference):
    return 10 * np.log10(4.0 / max(float(np.mean((images - reference) ** 2)), 1e-20))


@pytest.mark.parametrize("directory", all_fixture_dirs(), ids=lambda path: path.name)
def test_each_precision_stays_within_its_error(directory):
    fixture = load_fixture(directory)
    _, D, Gs = fixture.networks
    count = 4
    latents, labels = fixture.arrays["latents"][:count], fixture.labels[:count]
    reference = Gs(latents, labels, randomize_noise=False).numpy()
    reference_scores = D(reference, labels).numpy()
    for name in ("bf16", "fp16"):
        low_Gs, low_D = Gs.clone(precision=name), D.clone(precision=name)
        images = low_Gs(latents, labels, randomize_noise=False)
        scores = low_D(images, labels)
        assert images.dtype == tf.float32 and scores.dtype == tf.float32
        images = images.numpy()
        d_error = np.max(np.abs(low_D(reference, labels).numpy() - reference_scores))
        print(f"{fixture.name} {name}: max |diff| {np.max(np.abs(images - reference)):.3g}, "
              f"PSNR {psnr(images, reference):.1f} dB, D scores of the same images {d_error:.3g} "
              f"(of G's images: {np.max(np.abs(scores - reference_scores)):.3g})")
        assert psnr(images, reference) >= MIN_PSNR[name]
        assert 0 < np.max(np.abs(images - reference))  # low precision did run
        assert d_error <= MAX_D_SCORE_DIFFERENCE[name]
    np.testing.assert_array_equal(Gs.clone(precision="fp32")(latents, labels, randomize_noise=False).numpy(),
                                  reference)


def _layer_dtypes(net, dtype):
    """Names of the layers of `net` (its own and its components') that compute in `dtype`."""
    found, stack = set(), [net]
    while stack:
        layer = stack.pop()
        stack.extend(sublayer for sublayer in vars(layer).values() if isinstance(sublayer, keras.layers.Layer))
        stack.extend(item for value in vars(layer).values() if isinstance(value, (list, tuple))
                     for item in value if isinstance(item, keras.layers.Layer))
        if layer is not net and layer.compute_dtype == dtype:
            found.add(layer.name)
    return found


def test_only_the_top_resolutions_change_and_variables_stay_float32():
    G = networks.GeneratorMain(resolution=64, fmap_base=128, fmap_max=32, latent_size=16, dlatent_size=16,
                               architecture="skip", runtime=Runtime(precision="bf16", num_fp16_res=2))
    D = networks.DiscriminatorStyleGAN2(resolution=64, fmap_base=128, fmap_max=32,
                                        runtime=Runtime(precision="fp16", num_fp16_res=1, conv_clamp=None))
    # 32x32 and 64x64: Conv0_up, Conv1 (the ToRGB layers stay float32)
    assert _layer_dtypes(G, "bfloat16") == {"32x32_Conv0_up", "32x32_Conv1", "64x64_Conv0_up", "64x64_Conv1"}
    assert _layer_dtypes(D, "float16") == {"64x64_FromRGB", "64x64_Conv0", "64x64_Conv1_down", "64x64_Skip"}
    assert G.synthesis.convs[-1].conv_clamp == 256.0 and G.synthesis.convs[0].conv_clamp is None
    assert all(layer.conv_clamp is None for layer in D.convs0)  # conv_clamp=None: no clamp
    assert _layer_dtypes(G.mapping, "bfloat16") == set()
    assert {variable.dtype for variable in G.weights + D.weights} == {"float32"}
    assert G(np.zeros([1, 16], np.float32), None, randomize_noise=False).dtype == tf.float32
    assert _layer_dtypes(G.clone(precision="fp32"), "bfloat16") == set()
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        Runtime(precision="fp8")
    with pytest.raises(ValueError, match="precision must be one of"):
        config_lib.TrainConfig(precision="int8").validate()
    # The training config takes its choices and defaults from `names`, without importing Keras.
    defaults = config_lib.TrainConfig()
    assert (defaults.num_fp16_res, defaults.conv_clamp) == (names.DEFAULT_NUM_FP16_RES, names.DEFAULT_CONV_CLAMP)
    assert (Runtime().num_fp16_res, Runtime().conv_clamp) == (names.DEFAULT_NUM_FP16_RES, names.DEFAULT_CONV_CLAMP)


def test_conv_clamp_bounds_the_low_precision_layers():
    G = networks.GeneratorMain(resolution=16, fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16,
                               architecture="orig", runtime=Runtime(precision="fp16", num_fp16_res=1, conv_clamp=0.05))
    seen = []
    layer = G.synthesis.convs[-1]
    original_call = layer.call
    layer.call = lambda *args, **kwargs: seen.append(original_call(*args, **kwargs)) or seen[-1]
    G(np.random.RandomState(0).randn(2, 16).astype(np.float32) * 10, None, randomize_noise=False)
    assert seen[-1].dtype == tf.float16 and float(tf.reduce_max(tf.abs(seen[-1]))) == pytest.approx(0.05, rel=1e-3)


def test_bf16_training_follows_the_fp32_losses():
    """Config E-like networks at 16x16, 8 minibatches of the four StyleGAN2 steps from the same
    weights and inputs: every bf16 loss stays within 5 % of fp32's (of 1 for losses below 1)."""
    g_args = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16, mapping_layers=2, mapping_fmaps=16,
                  randomize_noise=False, style_mixing_prob=None)
    d_args = dict(fmap_base=64, fmap_max=16, mbstd_group_size=1)

    def make(name):
        keras.utils.set_random_seed(4)
        config = config_lib.TrainConfig(
            G_func="G_main", D_func="D_stylegan2", loop="stylegan2", G_args=g_args, D_args=d_args,
            G_loss=config_lib.LossConfig("G_logistic_ns_pathreg"), D_loss=config_lib.LossConfig("D_logistic_r1",
                                                                                                 {"gamma": 1.0}),
            G_smoothing_kimg=0.1, lazy_regularization=True, precision=name, num_fp16_res=2)
        return trainer.Trainer(tf.distribute.get_strategy(), config,
                               trainer.DatasetInfo(16, 3, 0, np.zeros([1, 0], np.float32)), compile_mode="function")
    runs = {}
    for name in ("fp32", "bf16"):
        t = make(name)  # the same seeded weights for both
        history = []
        for step in range(8):
            reals = np.random.RandomState(step).randint(0, 256, [8, 16, 16, 3]).astype(np.uint8)
            labels = np.zeros([8, 0], np.float32)
            out = {**t.g_step(0.0, 0.002, 8, 1), **t.d_step(reals, labels, 0.0, 0.002, 8, 1)}
            if step % 4 == 0:
                out.update({**t.g_reg_step(0.0, 0.002, 8, 1), **t.d_reg_step(reals, labels, 0.0, 0.002, 1)})
            history.append({key: float(value) for key, value in out.items() if key.startswith("Loss/")})
        runs[name] = history
    assert all(np.isfinite(value) for step in runs["bf16"] for value in step.values())
    differences = {}
    for ours, theirs in zip(runs["bf16"], runs["fp32"]):
        assert ours.keys() == theirs.keys()
        for key in ours:
            relative = abs(ours[key] - theirs[key]) / max(abs(theirs[key]), 1.0)
            differences[key] = max(differences.get(key, 0.0), relative)
    print(f"max |bf16 - fp32| / max(|fp32|, 1) per loss over 8 minibatches: {differences}")
    assert len(differences) >= 4 and max(differences.values()) <= 0.05, differences
    first, last = runs["fp32"][0], runs["fp32"][-1]
    assert any(abs(first[key] - last[key]) > 0.05 for key in first)  # the losses did move


@pytest.mark.parametrize("structure", ["recursive", "linear"])
def test_progressive_networks_blend_levels_in_low_precision(structure):
    """During a fade (lod 0.5) the blends mix a low-precision level with a float32 one."""
    from stylegan_tf.training.schedule import lod_range_of
    G = networks.Generator(resolution=32, fmap_base=128, fmap_max=32, latent_size=16, dlatent_size=16,
                           mapping_fmaps=16)
    Ds = [networks.Discriminator(resolution=32, num_channels=3, fmap_base=128, fmap_max=32),
          networks.DiscriminatorRevised(resolution=32, num_channels=3, fmap_base=128, fmap_max=32)]
    latents = np.random.RandomState(1).randn(2, 16).astype(np.float32)
    images = np.random.RandomState(0).uniform(-1, 1, [4, 32, 32, 3]).astype(np.float32)
    kwargs = dict(lod_range=lod_range_of(0.5)) if structure == "recursive" else dict(structure="linear")
    for net in [G] + Ds:
        net.lod.assign(0.5)

    def outputs():
        fakes = G(latents, None, is_training=True, randomize_noise=False, style_mixing_prob=None, **kwargs)
        return [fakes.numpy()] + [D(images, None, **kwargs).numpy() for D in Ds]
    reference = outputs()
    G, Ds = G.clone(precision="bf16", num_fp16_res=2), [D.clone(precision="bf16", num_fp16_res=2) for D in Ds]
    errors = [float(np.max(np.abs(a - b))) for a, b in zip(outputs(), reference)]
    print(f"{structure}: bf16 vs fp32 at lod 0.5 (G images, D_basic, D_stylegan scores): {errors}")
    assert all(0 < error < 0.2 for error in errors)
