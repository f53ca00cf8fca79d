"""StyleGAN2-ADA's networks (`networks.ada`) and its pickles (state version 5) beyond the parity tests:
mixed precision against the release's own fp16 outputs, the refusals, networks built here written
and read back, and the tools that used to assume a `lod`."""

import copy

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import export, legacy, networks

from conftest import REPO_FIXTURES_DIR
from original_fixtures import load_fixture, nchw_to_nhwc, output_error

ADA_FIXTURES = REPO_FIXTURES_DIR / "original-ada" / "networks"
SMALL = dict(resolution=16, num_channels=3, fmap_base=64, fmap_max=16, latent_size=8, dlatent_size=8,
             mapping_layers=2)


def write_states(path, states):
    with open(path, "wb") as file:
        legacy._OriginalFormatPickler(file, protocol=4).dump(states)
    return path


def test_every_ada_fixture_is_found():
    assert sorted(path.name for path in ADA_FIXTURES.iterdir() if path.is_dir()) == [
        "ada-auto-rgb32", "ada-cond-gray32", "ada-fp16-rgb32"]


def test_fixture_networks_are_the_ada_classes():
    G, D, Gs = load_fixture(ADA_FIXTURES / "ada-cond-gray32").networks
    assert type(G) is type(Gs) is networks.GeneratorADA and type(D) is networks.DiscriminatorADA
    assert not hasattr(G, "lod") and not G.synthesis.noise_buffers  # use_noise=False
    frozen = [name for name, variable in legacy.original_variables(D).items() if not variable.trainable]
    assert frozen == ["32x32/FromRGB/weight", "32x32/FromRGB/bias", "32x32/Conv0/weight", "32x32/Conv0/bias"]


def test_fp16_layers_compute_as_the_release_does_within_fp16_rounding():
    """The release's fp16 networks against ours in float16 over the same top 2 resolutions: they
    differ by about what fp16 rounding moves each from float32 (the roundings fall in other places)."""
    fixture = load_fixture(ADA_FIXTURES / "ada-fp16-rgb32")
    _, D, Gs = fixture.networks
    arrays = fixture.arrays
    low_Gs, low_D = (net.clone(precision="fp16", num_fp16_res=2, conv_clamp=256) for net in (Gs, D))
    images = low_Gs.synthesis(arrays["synthesis_dlatents_in"], randomize_noise=False)
    release, release32 = (nchw_to_nhwc(arrays[key]) for key in ("Gs_synthesis_images_fp16", "Gs_synthesis_images"))
    rounding = output_error(release, release32)
    assert 1e-4 < rounding < 1e-2  # fp16 did round (the recorded arrays are not float32 twice)
    assert output_error(images, release) <= 2 * rounding
    scores = low_D(nchw_to_nhwc(arrays["D_images_in"]), fixture.labels)
    rounding = output_error(arrays["D_scores_b8_lod0.0_fp16"], arrays["D_scores_b8_lod0.0"])
    assert output_error(scores, arrays["D_scores_b8_lod0.0_fp16"]) <= 2 * rounding


@pytest.mark.parametrize("key,value", [("use_spectral_norm", True), ("adaptive_dropout", 0.5), ("score_size", 2),
                                       ("use_pagan", True), ("augment_strength", 0.1)])
def test_comparison_methods_of_the_paper_are_refused(tmp_path, key, value):
    states = copy.deepcopy(legacy.read_pickle(ADA_FIXTURES / "ada-auto-rgb32" / "network.pkl"))
    states[1].state["static_kwargs"][key] = value
    with pytest.raises(legacy.LegacyPickleError, match=f"{key}={value!r} selects one of the ADA paper's comparison"):
        legacy.load_networks(write_states(tmp_path / "comparison.pkl", states))
    states[1].state["static_kwargs"][key] = networks.ada.D_COMPARISON_DEFAULTS[key]  # the default is accepted
    legacy.load_networks(write_states(tmp_path / "default.pkl", states))


def test_a_stylegan2_build_function_under_version_5_is_named(tmp_path):
    states = copy.deepcopy(legacy.read_pickle(ADA_FIXTURES / "ada-auto-rgb32" / "network.pkl"))
    states[1].state["build_func_name"] = "D_stylegan2"
    message = "unknown build function 'D_stylegan2': not one of StyleGAN2-ADA's .state version 5.; expected one of"
    with pytest.raises(legacy.LegacyPickleError, match=message):
        legacy.load_networks(write_states(tmp_path / "d.pkl", states))
    states = copy.deepcopy(legacy.read_pickle(ADA_FIXTURES / "ada-auto-rgb32" / "network.pkl"))
    states[0].state["variables"].append(("lod", np.float32(0)))  # a StyleGAN2 G_main relabelled version 5
    with pytest.raises(legacy.LegacyPickleError, match=
                       "G stores variables that the rebuilt network does not have: lod"):
        legacy.load_networks(write_states(tmp_path / "g.pkl", states))


def test_networks_built_here_are_written_as_version_5_and_read_back(tmp_path):
    G = networks.GeneratorADA(**SMALL, label_size=2, conv_clamp=256, num_fp16_res=2, architecture="orig")
    D = networks.DiscriminatorADA(resolution=16, num_channels=3, fmap_base=64, fmap_max=16, label_size=2,
                                  mapping_layers=1, mbstd_group_size=None, freeze_layers=1)
    Gs = G.clone(name="Gs")
    rng = np.random.RandomState(3)
    latents, labels = rng.randn(3, 8).astype(np.float32), np.eye(2, dtype=np.float32)[[0, 1, 1]]
    images = Gs(latents, labels, randomize_noise=False, truncation_psi=0.7)
    scores = D(images, labels)
    legacy.save_networks(tmp_path / "ada.pkl", G, D, Gs)
    states = legacy.read_pickle(tmp_path / "ada.pkl")
    assert [state.state["version"] for state in states] == [5, 5, 5]
    assert states[1].state["input_shapes"] == [[None, 3, 16, 16], [None, 2]]
    assert states[0].state["components"]["mapping"].state["output_shapes"] == [[None, G.num_layers, 8]]
    assert "lod" not in dict(states[0].state["variables"])
    G2, D2, Gs2 = legacy.load_networks(tmp_path / "ada.pkl")
    np.testing.assert_array_equal(Gs2(latents, labels, randomize_noise=False, truncation_psi=0.7), images)
    np.testing.assert_array_equal(D2(images, labels), scores)
    assert [v.trainable for v in legacy.original_variables(D2).values()] == \
        [v.trainable for v in legacy.original_variables(D).values()]


def test_minibatch_stddev_over_the_whole_minibatch_takes_any_batch():
    D = networks.DiscriminatorADA(resolution=8, num_channels=3, fmap_base=32, fmap_max=16)
    images = np.random.RandomState(0).randn(5, 8, 8, 3).astype(np.float32)
    whole = D(images).numpy()
    assert whole.shape == (5, 1)
    # With the whole minibatch as one group, a row's score depends on the other rows.
    assert not np.allclose(D(images[:3]).numpy(), whole[:3])


def test_style_mixing_cutoff_keeps_the_first_layer_and_mixes_the_last():
    G = networks.GeneratorADA(**SMALL)
    latents = tf.constant(np.random.RandomState(1).randn(4, 8), tf.float32)
    dlatents = G.mapping(latents)
    tf.random.set_seed(0)
    for _ in range(10):
        mixed = G.mix_styles(dlatents, latents, None, 1.0).numpy()
        np.testing.assert_array_equal(mixed[:, 0], dlatents[:, 0])  # cutoff >= 1
        assert not np.allclose(mixed[:, -1], dlatents[:, -1])      # cutoff < num_layers


def test_export_takes_a_generator_without_lod():
    _, _, Gs = load_fixture(ADA_FIXTURES / "ada-auto-rgb32").networks
    function, signature = export._generator_function(Gs, None, "const", None, lambda images: images)
    latents = np.random.RandomState(2).randn(2, Gs.latent_size).astype(np.float32)
    images = function(tf.constant(latents), tf.constant([1.0, 1.0]))
    expected = Gs(latents, truncation_psi=1.0, randomize_noise=False)
    np.testing.assert_allclose(images, expected, atol=1e-5)


def test_stylegan2_networks_resume_into_ada_ones_configured_alike():
    """StyleGAN2's G_main and D_stylegan2 compute what StyleGAN2-ADA's do with the same kwargs (no
    clamp, no labels): `--resume` from a StyleGAN2 pickle into an ADA config copies every variable
    (G's lod at 0 aside) and gives the same images and scores."""
    kwargs = dict(SMALL, mapping_fmaps=8)
    G2 = networks.GeneratorMain(**kwargs, architecture="resnet")
    D2 = networks.DiscriminatorStyleGAN2(resolution=16, num_channels=3, fmap_base=64, fmap_max=16)
    rng = np.random.RandomState(4)
    for net in (G2, D2):
        for variable in net.original_variables().values():
            if variable.trainable:
                variable.assign(rng.normal(0, 1, variable.shape).astype(np.float32))
    G, D = networks.GeneratorADA(**kwargs, architecture="resnet"), networks.DiscriminatorADA(
        resolution=16, num_channels=3, fmap_base=64, fmap_max=16, mbstd_group_size=4)
    networks.base.copy_network_variables(G2, G, "G")
    networks.base.copy_network_variables(D2, D, "D")
    latents = rng.randn(4, 8).astype(np.float32)
    images = G(latents, truncation_psi=1.0, randomize_noise=False)
    np.testing.assert_allclose(images, G2(latents, truncation_psi=1.0, randomize_noise=False), atol=1e-6)
    np.testing.assert_allclose(D(images), D2(images), atol=1e-5)
    G2.lod.assign(1.0)  # a lod that means something cannot be dropped
    with pytest.raises(ValueError, match="the architectures differ"):
        networks.base.copy_network_variables(G2, G, "G")
