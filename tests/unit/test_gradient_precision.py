"""Gradients of small-width networks on the default (oneDNN) CPU path against a float64 evaluation.

The float64 clone of the same network is the reference; every variable's float32 gradient must agree
with it to 1e-4 of that gradient's largest magnitude. Networks with few channels (16-32 here,
grayscale and conditional) are where differences show: a bias, noise-strength or noise-buffer
gradient sums over few elements. The differences of 1e-3 and more seen between two float32
computations of such networks come from the leaky ReLU's kink, not from a kernel's precision: a
pre-activation within rounding of 0 takes slope 1 in one computation and 0.2 in the other
(`test_gradient_differences_come_from_the_leaky_relu_kink`), so the draws compared to 1e-4 are
checked to have no such element.
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import legacy, networks
from stylegan_tf.ops import reference as reference_ops

from original_fixtures import gradient_error

TOLERANCE = 1e-4
SMALL = dict(num_channels=1, resolution=32, label_size=10, fmap_base=256, fmap_max=32, latent_size=32,
             dlatent_size=32)
GENERATORS = {
    "G_style": (networks.Generator, dict(mapping_fmaps=32)),
    "G_main-orig": (networks.GeneratorMain, dict(architecture="orig")),
    "G_main-skip": (networks.GeneratorMain, dict(architecture="skip")),
}
DISCRIMINATORS = {
    "D_basic": (networks.Discriminator, {}),
    "D_stylegan2-resnet": (networks.DiscriminatorStyleGAN2, dict(architecture="resnet")),
}
BATCH = 8
# Draws without a pre-activation within float32 rounding of 0 (G_main-orig's seed 0 has one).
GENERATOR_SEEDS = {"G_style": 0, "G_main-orig": 4, "G_main-skip": 0}


def randomized(net, rng):
    """`net` with non-zero biases, noise strengths and noise buffers (zero at initialization)."""
    for name, variable in legacy.original_variables(net).items():
        if name.endswith("lod") or variable.dtype != "float32":
            continue
        if "bias" in name or "noise" in name.lower():
            variable.assign(np.asarray(rng.randn(*variable.shape), np.float32) * 0.5)
    return net


def gradients(net, inputs, labels, weights, call):
    """{original variable name: gradient} of sum(net(inputs) * weights), in the network's dtype."""
    variables = legacy.original_variables(net)
    watched = [variable.value for variable in variables.values()]
    cast = [tf.cast(value, net.compute_dtype) for value in (inputs, labels, weights)]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        loss = tf.reduce_sum(call(net, cast[0], cast[1]) * cast[2])
    return {name: grad.numpy() for name, grad in zip(variables, tape.gradient(loss, watched)) if grad is not None}


class _RecordingTF:
    """Stands in for `tf` inside `stylegan_tf.ops.reference`, recording the leaky ReLU's inputs (the
    networks' only `tf.nn.leaky_relu`)."""

    def __init__(self):
        self.preactivations = []
        recording = self

        class _NN:
            def __getattr__(self, name):
                return getattr(tf.nn, name)

            def leaky_relu(self, x, alpha):
                recording.preactivations.append(x)
                return tf.nn.leaky_relu(x, alpha)

        self.nn = _NN()

    def __getattr__(self, name):
        return getattr(tf, name)


def compare_with_float64(net32, inputs, labels, weights, call, monkeypatch):
    """(sorted [(gradient error, variable name)], number of pre-activations whose sign differs)."""
    net64 = net32.clone(dtype="float64")
    assert {variable.dtype for variable in net64.weights} == {"float64"}
    results = []
    for net in (net32, net64):
        recording = _RecordingTF()
        monkeypatch.setattr(reference_ops, "tf", recording)
        results.append((gradients(net, inputs, labels, weights, call), recording.preactivations))
        monkeypatch.setattr(reference_ops, "tf", tf)
    (ours, pre32), (reference, pre64) = results
    assert set(ours) == set(reference) and len(ours) > 10 and len(pre32) == len(pre64) > 0
    sign_flips = sum(int(np.sum(np.sign(a.numpy()) != np.sign(b.numpy()))) for a, b in zip(pre32, pre64))
    return sorted(((gradient_error(ours[name], reference[name]), name) for name in reference), reverse=True), sign_flips


def generator_images(G, latents, labels):
    return G(latents, labels, is_training=True, style_mixing_prob=None, dlatent_avg_beta=None, randomize_noise=False)


def generator_case(name, seed):
    """A seeded small-width generator with randomized biases and noise, and its inputs."""
    keras.utils.set_random_seed(seed)
    cls, extra = GENERATORS[name]
    rng = np.random.RandomState(5)
    G = randomized(cls(**SMALL, **extra), rng)
    latents = rng.randn(BATCH, SMALL["latent_size"])
    labels = np.eye(SMALL["label_size"])[rng.randint(0, SMALL["label_size"], BATCH)]
    weights = rng.randn(BATCH, SMALL["resolution"], SMALL["resolution"], SMALL["num_channels"])
    return G, latents, labels, weights


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_gradients_match_float64(name, monkeypatch):
    G, latents, labels, weights = generator_case(name, seed=GENERATOR_SEEDS[name])
    errors, sign_flips = compare_with_float64(G, latents, labels, weights, generator_images, monkeypatch)
    print(f"{name}: worst float32 vs float64 gradient errors {errors[:3]}")
    assert sign_flips == 0  # otherwise the comparison measures the kink (see the next test)
    assert any("noise" in variable for _, variable in errors)  # the buffers' gradients are checked too
    assert errors[0][0] <= TOLERANCE, errors[:3]


def test_gradient_differences_come_from_the_leaky_relu_kink(monkeypatch):
    # In this draw one of the 16x16 Conv1 layer's 65,536 pre-activations lies 2.7e-7 from 0, on
    # different sides in float32 and float64: that one element's slope (1 against 0.2) moves the
    # layer's bias and noise gradients by ~1e-2 of their size, and every other gradient still agrees.
    G, latents, labels, weights = generator_case("G_style", seed=7)
    errors, sign_flips = compare_with_float64(G, latents, labels, weights, generator_images, monkeypatch)
    print(f"G_style seed 7: {sign_flips} pre-activation sign flip(s); worst errors {errors[:4]}")
    assert sign_flips == 1
    affected = {name for error, name in errors if error > TOLERANCE}
    assert "G_synthesis/16x16/Conv1/bias" in affected and errors[0][0] > 1e-3
    assert errors[0][1].startswith("G_synthesis/16x16/Conv1/"), errors[:2]


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_gradients_match_float64(name, monkeypatch):
    keras.utils.set_random_seed(1)
    cls, extra = DISCRIMINATORS[name]
    rng = np.random.RandomState(6)
    D = randomized(cls(**{k: v for k, v in SMALL.items() if k not in ("latent_size", "dlatent_size")}, **extra), rng)
    images = rng.randn(BATCH, SMALL["resolution"], SMALL["resolution"], SMALL["num_channels"])
    labels = np.eye(SMALL["label_size"])[rng.randint(0, SMALL["label_size"], BATCH)]
    errors, sign_flips = compare_with_float64(D, images, labels, rng.randn(BATCH, 1), lambda net, x, y: net(x, y),
                                              monkeypatch)
    print(f"{name}: worst float32 vs float64 gradient errors {errors[:3]}")
    assert sign_flips == 0
    assert errors[0][0] <= TOLERANCE, errors[:3]


def test_float64_clone_is_the_same_network():
    G = randomized(networks.GeneratorMain(**SMALL), np.random.RandomState(7))
    G64 = G.clone(dtype="float64")
    assert [v.path for v in G64.weights] == [v.path for v in G.weights]
    latents = np.random.RandomState(8).randn(2, SMALL["latent_size"])
    labels = np.eye(SMALL["label_size"])[:2]
    images32 = G(latents, labels, truncation_psi=0.5, randomize_noise=False)
    images64 = G64(latents, labels, truncation_psi=0.5, randomize_noise=False)
    assert images32.dtype == tf.float32 and images64.dtype == tf.float64
    assert 0 < np.max(np.abs(images64.numpy() - images32.numpy())) <= 1e-4


# Grayscale, conditional, 32 feature maps at 64x64: the kind of network whose noise-buffer gradient
# a held-out fixture found 6.5e-3 from the original's. Measured float32 against float64 over seeds
# 0-5 (worst noise buffer, pre-activation sign flips): 1.9e-2 (16 flips), 3.0e-6 (0), 3.0e-3 (1),
# 9.3e-3 (1), 2.2e-2 (4), 9.2e-4 (1); without a flip every gradient agrees to 9e-5.
SMALL_64 = dict(num_channels=1, resolution=64, label_size=10, fmap_base=512, fmap_max=32, latent_size=32,
                dlatent_size=32)


@pytest.mark.parametrize("seed", [1, 2])
def test_noise_buffer_gradients_of_a_small_64px_network_deviate_only_at_the_kink(seed, monkeypatch):
    """Settles the noise-buffer tolerance of the parity test with numbers (test_parity.test_gradients):
    float32 is exact to 1e-4 here unless a pre-activation rounds across 0, and then a noise buffer's
    gradient moves by the 1e-3 to 1e-2 a held-out fixture showed, in any float32 computation."""
    keras.utils.set_random_seed(seed)
    rng = np.random.RandomState(seed + 100)
    G = randomized(networks.Generator(**SMALL_64, mapping_fmaps=32), rng)
    latents, labels = rng.randn(BATCH, 32), np.eye(10)[rng.randint(0, 10, BATCH)]
    errors, sign_flips = compare_with_float64(G, latents, labels, rng.randn(BATCH, 64, 64, 1), generator_images,
                                              monkeypatch)
    noise = [(error, name) for error, name in errors if re.fullmatch(r"G_synthesis/noise\d+", name)]
    print(f"seed {seed}: {sign_flips} sign flip(s); worst noise buffer {noise[0]}; worst {errors[0]}")
    assert len(noise) == 10  # two per resolution, 4x4 to 64x64
    # Which pre-activations round across 0 depends on the summation order of the float32 kernels
    # (thread pools, device configuration), so the count varies by machine and process: seed 1 gave
    # 0 or 1 flips, seed 2 gave 1. What holds either way:
    if sign_flips == 0:
        assert errors[0][0] <= TOLERANCE
    else:  # the flip moves a noise buffer's gradient most, by the held-out fixture's 1e-3 to 1e-2
        assert errors[0][1] == noise[0][1] and TOLERANCE < noise[0][0] <= 3e-2, (errors[:3], noise[:3])
