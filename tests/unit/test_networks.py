"""Network construction from the original kwargs, structures, compilation and Keras saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import legacy, networks

RNG = np.random.RandomState(99)
TINY_G = dict(resolution=16, num_channels=3, fmap_base=64, fmap_max=16, latent_size=8,
              dlatent_size=8, mapping_fmaps=8, mapping_layers=2)
TINY_D = dict(resolution=16, num_channels=3, fmap_base=64, fmap_max=16)


def randomize(net, seed=0):
    """Non-trivial values in every variable (biases, noise strengths, ... start at zero)."""
    rng = np.random.RandomState(seed)
    for name, variable in legacy.original_variables(net).items():
        if not name.endswith("lod"):
            variable.assign(rng.randn(*variable.shape).astype(np.float32) *
                            (100.0 if "G_mapping/Dense" in name and "weight" in name else 1.0))
    return net


def test_default_ffhq_generator_parameter_count():
    G = networks.Generator()
    assert sum(int(np.prod(v.shape)) for v in G.trainable_variables) == 26_219_627
    assert G.num_layers == 18 and G.resolution == 1024
    D = networks.Discriminator(resolution=1024, num_channels=3)
    assert sum(int(np.prod(v.shape)) for v in D.trainable_variables) == 23_087_249


@pytest.mark.parametrize("cls,kwargs,name", [
    (networks.Generator, dict(fmap_maximum=3), "fmap_maximum"),
    (networks.Discriminator, dict(latent_size=3), "latent_size"),   # a G kwarg is not D's
    (networks.Synthesis, dict(bogus=1), "bogus"),
    (networks.Generator, dict(dlatent_broadcast=4), "dlatent_broadcast"),  # G sets it itself
])
def test_unknown_keyword_is_named(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"unknown keyword argument.*{name}"):
        cls(**kwargs)


@pytest.mark.parametrize("kwargs,message", [
    (dict(resolution=48), "power of two"), (dict(dtype="float16"), "float32"),
    (dict(structure="tree"), "structure"), (dict(nonlinearity="tanh"), "nonlinearity"),
])
def test_bad_values_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        networks.Generator(**{**TINY_G, **kwargs})


def test_every_original_kwarg_is_accepted():
    G = networks.Generator(**TINY_G, **{k: v for k, v in networks.G_STYLE_DEFAULTS.items()
                                        if k != "components"}, randomize_noise=False,
                           mapping_nonlinearity="relu", normalize_latents=False,
                           use_wscale=True, fmap_decay=1.0,
                           blur_filter=[1, 3, 3, 1], force_clean_graph=False, dtype="float32")
    assert G(RNG.randn(2, 8)).shape == (2, 16, 16, 3)
    D = networks.Discriminator(**TINY_D, **{k: v for k, v in networks.D_BASIC_DEFAULTS.items()
                                            if k not in TINY_D})
    assert D(RNG.randn(2, 16, 16, 3)).shape == (2, 1)


VARIANTS = {
    "labels": dict(label_size=3),
    "no_const": dict(const_input_layer=False),
    "tuned_baseline": dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False,
                           mapping_layers=0, truncation_psi=None, const_input_layer=False,
                           style_mixing_prob=0.0, use_noise=False),
    "relu_no_blur_fused": dict(nonlinearity="relu", blur_filter=None, fused_scale=True),
    "grayscale": dict(num_channels=1),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_linear_and_recursive_structures_agree(variant):
    kwargs = {**TINY_G, **VARIANTS[variant]}
    G = randomize(networks.Generator(**kwargs))
    labels = np.eye(3, dtype=np.float32)[[0, 2]] if kwargs.get("label_size") else None
    latents = RNG.randn(2, 8).astype(np.float32)
    for lod in (0.0, 0.4, 1.0, 1.7, 2.0):
        G.lod.assign(lod)
        outputs = [G(latents, labels, randomize_noise=False, structure=structure).numpy()
                   for structure in ("recursive", "linear")]
        assert outputs[0].shape == (2, 16, 16, kwargs["num_channels"])
        np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)
    G.lod.assign(0.0)
    fixed = G(latents, labels, randomize_noise=False, structure="fixed")
    np.testing.assert_allclose(fixed, G(latents, labels, randomize_noise=False), atol=1e-5)
    d_kwargs = {**TINY_D, "num_channels": kwargs["num_channels"],
                "label_size": kwargs.get("label_size", 0)}
    D = randomize(networks.Discriminator(**d_kwargs))
    images = RNG.randn(4, 16, 16, kwargs["num_channels"]).astype(np.float32)
    d_labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]] if d_kwargs["label_size"] else None
    for lod in (0.0, 0.4, 1.0, 2.5):
        D.lod.assign(lod)
        scores = [D(images, d_labels, structure=s).numpy() for s in ("recursive", "linear")]
        np.testing.assert_allclose(scores[0], scores[1], rtol=1e-4, atol=1e-4)


def test_missing_labels_are_a_clear_error():
    G = networks.Generator(**TINY_G, label_size=3)
    with pytest.raises(ValueError, match=r"labels \[N, 3\] is required"):
        G(RNG.randn(2, 8))


def test_label_switch_selects_the_class_score():
    D = randomize(networks.Discriminator(**TINY_D, label_size=3))
    images = RNG.randn(2, 16, 16, 3).astype(np.float32)
    all_scores = [D(images, np.tile(np.eye(3, dtype=np.float32)[k], [2, 1])).numpy()
                  for k in range(3)]
    mixed = D(images, np.array([[1, 1, 0], [0, 0, 1]], np.float32)).numpy()
    np.testing.assert_allclose(mixed[:, 0], [all_scores[0][0, 0] + all_scores[1][0, 0],
                                             all_scores[2][1, 0]], rtol=1e-5, atol=1e-5)


def test_noise_modes():
    G = randomize(networks.Generator(**TINY_G))
    latents = RNG.randn(2, 8).astype(np.float32)
    const = [G(latents, randomize_noise=False).numpy() for _ in range(2)]
    np.testing.assert_array_equal(const[0], const[1])
    random = [G(latents, randomize_noise=True).numpy() for _ in range(2)]
    assert np.abs(random[0] - random[1]).max() > 1e-3


def test_tf_function_and_xla_agree_with_eager():
    G = randomize(networks.Generator(**TINY_G))
    D = randomize(networks.Discriminator(**TINY_D))
    latents = tf.constant(RNG.randn(4, 8).astype(np.float32))
    G.lod.assign(0.6)
    D.lod.assign(0.6)

    def step(latents):
        images = G(latents, None, is_training=True, style_mixing_prob=None,
                   dlatent_avg_beta=None, randomize_noise=False)
        return images, D(images)

    eager = step(latents)
    for compiled in (tf.function(step), tf.function(step, jit_compile=True)):
        for ours, reference in zip(compiled(latents), eager):
            np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-4, atol=1e-4)


def test_clone_copies_every_variable():
    G = randomize(networks.Generator(**TINY_G))
    Gs = G.clone("Gs")
    assert Gs.name == "Gs" and Gs.get_config()["static_kwargs"] == G.get_config()["static_kwargs"]
    for (name, a), b in zip(legacy.original_variables(G).items(),
                            legacy.original_variables(Gs).values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
        assert a is not b


@pytest.mark.parametrize("which", ["G", "D", "Gs"])
def test_keras_save_and_reload_give_identical_outputs(tmp_path, which):
    if which == "D":
        net = randomize(networks.Discriminator(**TINY_D, label_size=2))
        inputs = (RNG.randn(4, 16, 16, 3).astype(np.float32), np.eye(2, dtype=np.float32)[[0, 1, 1, 0]])
        run = lambda model: model(*inputs)  # noqa: E731
    else:
        net = randomize(networks.Generator(**TINY_G, label_size=2))
        if which == "Gs":
            net = net.clone("Gs")
        inputs = (RNG.randn(3, 8).astype(np.float32), np.eye(2, dtype=np.float32)[[0, 1, 1]])
        run = lambda model: model(*inputs, truncation_psi=0.5, randomize_noise=False)  # noqa
    net.lod.assign(0.5)
    path = tmp_path / f"{which}.keras"
    net.save(path)
    reloaded = keras.models.load_model(path)
    assert type(reloaded) is type(net) and reloaded.name == net.name
    np.testing.assert_array_equal(run(reloaded).numpy(), run(net).numpy())
    for (name, a), b in zip(legacy.original_variables(net).items(),
                            legacy.original_variables(reloaded).values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_plain_tf_saved_model_save_works_for_conditional_networks(tmp_path):
    G = networks.Generator(**TINY_G, label_size=2)
    G(RNG.randn(1, 8), np.eye(2, dtype=np.float32)[:1])
    tf.saved_model.save(G, str(tmp_path / "G"))
    assert "serving_default" not in tf.saved_model.load(str(tmp_path / "G")).signatures
    assert (tmp_path / "G" / "saved_model.pb").exists()


def test_synthesis_and_mapping_are_usable_alone():
    G = randomize(networks.Generator(**TINY_G))
    latents = RNG.randn(3, 8).astype(np.float32)
    dlatents = G.mapping(latents)
    assert dlatents.shape == (3, G.num_layers, 8)
    np.testing.assert_allclose(G.synthesis(dlatents, randomize_noise=False).numpy(),
                               G(latents, truncation_psi=None, randomize_noise=False).numpy(),
                               atol=1e-6)


def test_lod_range_prunes_the_graph_without_changing_results():
    G = randomize(networks.Generator(**TINY_G))
    D = randomize(networks.Discriminator(**TINY_D))
    latents = RNG.randn(2, 8).astype(np.float32)

    def step(lod_range):
        images = G(latents, randomize_noise=False, lod_range=lod_range)
        return images, D(images, lod_range=lod_range)

    for lod, lod_range in ((0.0, (0.0, 1.0)), (0.3, (0.0, 1.0)), (1.0, (1.0, 2.0)),
                           (1.6, (1.0, 2.0)), (2.0, (2.0, 2.0)), (1.6, (0.0, 2.0))):
        G.lod.assign(lod)
        D.lod.assign(lod)
        for ours, reference in zip(tf.function(step)(lod_range), step(None)):
            np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)

    def op_count(lod_range):  # ops of the graph and of every cond branch in it
        graph_def = tf.function(step).get_concrete_function(lod_range).graph.as_graph_def()
        return len(graph_def.node) + sum(len(f.node_def) for f in graph_def.library.function)

    assert op_count((2.0, 2.0)) < op_count((1.0, 2.0)) < op_count(None)
    with pytest.raises(ValueError, match="low <= high"):
        G(latents, lod_range=(2.0, 1.0))
