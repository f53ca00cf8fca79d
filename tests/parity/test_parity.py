"""Our networks, loaded from pickles made by the ORIGINAL code, reproduce its recorded outputs.

Every directory in ../shared/fixtures/original-stylegan, ../shared/fixtures/original-stylegan2,
tests/fixtures/original-ada/networks and $STYLEGAN_FIXTURES is checked, driven by its meta.json
(StyleGAN, StyleGAN2 and StyleGAN2-ADA alike).
"""

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import legacy
from stylegan_tf.ops import fast

from original_fixtures import (
    OUTPUT_TOLERANCE,
    all_fixture_dirs,
    check_gradient,
    compute_gradients,
    load_fixture,
    nchw_to_nhwc,
    output_error,
    set_lod,
)

FIXTURE_DIRS = all_fixture_dirs()


@pytest.fixture(scope="module", params=FIXTURE_DIRS, ids=lambda path: path.name)
def fixture(request):
    return load_fixture(request.param)


def test_fixtures_were_found():
    assert FIXTURE_DIRS, "no original-stylegan fixtures found: is ../shared next to the checkout?"
    assert any("stylegan2" in str(path) for path in FIXTURE_DIRS), "no original-stylegan2 fixtures found"
    assert any("original-ada" in str(path) for path in FIXTURE_DIRS), "no original-ada network fixtures found"


def test_loaded_networks_match_meta(fixture):
    G, D, Gs = fixture.networks
    meta = fixture.meta
    assert (G.resolution, G.num_channels, G.label_size) == (
        meta["resolution"], meta["num_channels"], meta["label_size"])
    assert (G.num_layers, G.latent_size, G.dlatent_size) == (
        meta["num_layers"], meta["latent_size"], meta["dlatent_size"])
    for net, key in ((G, "G_variables"), (D, "D_variables")):
        variables = legacy.original_variables(net)
        assert sorted(variables) == sorted(name for name, _, _ in meta[key])
        for name, shape, trainable in meta[key]:
            assert legacy.original_shape(name, tuple(variables[name].shape)) == tuple(shape)
            assert bool(variables[name].trainable) == trainable, name


def test_noise_buffers_and_dlatent_avg(fixture):
    G, _, Gs = fixture.networks
    for prefix, net in (("G", G), ("Gs", Gs)):
        variables = legacy.original_variables(net)
        np.testing.assert_array_equal(np.asarray(net.dlatent_avg),
                                      fixture.arrays[f"{prefix}_dlatent_avg"])
        for index in range(len(net.synthesis.noise_buffers)):
            stored = legacy.to_original_layout(f"G_synthesis/noise{index}",
                                               np.asarray(variables[f"G_synthesis/noise{index}"]))
            np.testing.assert_array_equal(stored, fixture.arrays[f"{prefix}_noise/noise{index}"])


def test_mapping(fixture):
    G, _, Gs = fixture.networks
    for prefix, net in (("G", G), ("Gs", Gs)):
        ours = net.mapping(fixture.arrays["latents"], fixture.labels)
        assert output_error(ours, fixture.arrays[f"{prefix}_mapping_dlatents"]) <= OUTPUT_TOLERANCE


def test_truncation_cases(fixture):
    _, _, Gs = fixture.networks
    count = fixture.meta["n_img"]
    latents, labels = fixture.arrays["latents"][:count], fixture.labels[:count]
    assert fixture.meta["truncation_cases"]
    for case in fixture.meta["truncation_cases"]:
        kwargs = case["kwargs"]
        dlatents = Gs.compute_dlatents(latents, labels, **kwargs)
        assert output_error(dlatents, fixture.arrays[case["dlatents_key"]]) <= OUTPUT_TOLERANCE, \
            case["images_key"]
        images = Gs(latents, labels, randomize_noise=False, **kwargs)
        expected = nchw_to_nhwc(fixture.arrays[case["images_key"]])
        assert output_error(images, expected) <= OUTPUT_TOLERANCE, case["images_key"]


def test_synthesis_only(fixture):
    _, _, Gs = fixture.networks
    images = Gs.synthesis(fixture.arrays["synthesis_dlatents_in"], randomize_noise=False)
    expected = nchw_to_nhwc(fixture.arrays["Gs_synthesis_images"])
    assert output_error(images, expected) <= OUTPUT_TOLERANCE


@pytest.mark.parametrize("impl", ["fast", "xla"])
def test_each_impl_matches_the_original(fixture, impl, monkeypatch):
    """Networks built with the faster op forms (`ops.fast`): 'fast' with its forms at every size (XLA
    clusters for the epilogues, strided resampling convs), 'xla' compiled by XLA (shifted blur,
    per-phase upsampling). Their images and D scores match the original's as the reference's do."""
    monkeypatch.setattr(fast, "FUSED_EPILOGUE_MIN_PIXELS", 0)
    monkeypatch.setattr(fast, "STRIDED_RESAMPLING_MIN_SIZE", 0)
    _, D, Gs = fixture.networks
    Gs, D = Gs.clone(impl=impl), D.clone(impl=impl)
    assert Gs.synthesis.runtime.impl == D.runtime.impl == impl
    compile_ = (lambda function: tf.function(function, jit_compile=True)) if impl == "xla" else (lambda f: f)
    images = compile_(lambda dlatents: Gs.synthesis(dlatents, noise_mode="const"))(
        tf.constant(fixture.arrays["synthesis_dlatents_in"]))
    assert output_error(images, nchw_to_nhwc(fixture.arrays["Gs_synthesis_images"])) <= OUTPUT_TOLERANCE
    key, batch, lod = next((case for case in fixture.d_score_cases() if case[2] == 0), fixture.d_score_cases()[0])
    set_lod(D, lod)
    labels = tf.constant(fixture.labels[:batch], tf.float32)
    d_images = tf.constant(nchw_to_nhwc(fixture.arrays["D_images_in"])[:batch])
    scores = compile_(lambda images: D(images, labels))(d_images)
    assert output_error(scores, fixture.arrays[key]) <= OUTPUT_TOLERANCE, key


@pytest.mark.parametrize("structure", ["recursive", "linear"])
def test_generator_at_every_lod(fixture, structure):
    G, _, _ = fixture.networks
    count = fixture.meta["n_g"]
    try:
        for lod in fixture.meta["lods"]:
            set_lod(G, lod)
            images = G(fixture.arrays["latents"][:count], fixture.labels[:count],
                       is_training=True, style_mixing_prob=None, dlatent_avg_beta=None,
                       randomize_noise=False, structure=structure)
            expected = nchw_to_nhwc(fixture.arrays[f"G_images_lod{lod:.1f}"])
            assert output_error(images, expected) <= OUTPUT_TOLERANCE, lod
    finally:
        set_lod(G, 0.0)


@pytest.mark.parametrize("structure", ["recursive", "linear"])
def test_discriminator_at_every_lod_and_batch(fixture, structure):
    _, D, _ = fixture.networks
    images = nchw_to_nhwc(fixture.arrays["D_images_in"])
    cases = fixture.d_score_cases()
    assert cases
    try:
        for key, batch, lod in cases:
            set_lod(D, lod)
            scores = D(images[:batch], fixture.labels[:batch], structure=structure)
            assert output_error(scores, fixture.arrays[key]) <= OUTPUT_TOLERANCE, key
    finally:
        set_lod(D, 0.0)


def test_gradients(fixture):
    """Every recorded gradient within its tolerance of the original's; a noise buffer's beyond it
    only where ours is at least as close as the original's to the float64 gradient.

    Why noise buffers: their gradients sum few channels per pixel, and a leaky-ReLU pre-activation
    within float32 rounding of 0 takes slope 1 in one float32 computation and 0.2 in another. On
    small grayscale conditional networks at 64x64 (test_gradient_precision) one such element moves a
    noise buffer's gradient by 3e-3 to 2.2e-2 of its size, and the shared rgb32 fixture's own
    float32 gradients lie 6.0e-3 (noise2) and 1.9e-2 (G_mapping/Dense5/weight) from float64 while
    ours lie within 1.5e-6 of them: both float32 computations are equally far from the exact value.
    So a noise buffer that differs from the original's by more than NOISE_GRADIENT_TOLERANCE passes
    only if ours is no farther from the float64 evaluation than the original's (+ GRADIENT_TOLERANCE)."""
    groups = fixture.gradient_groups()
    assert groups
    for group in groups:
        expected = fixture.gradient_arrays(group)
        ours = compute_gradients(fixture, group)
        exact = {}

        def exact_gradient(name):
            if not exact:
                exact.update(compute_gradients(fixture, group, "float64"))
            return exact[name]
        for name, reference in expected.items():
            if name == "lod" or name.endswith("/lod"):
                continue  # structure-dependent at integer lods (see the fixture README)
            assert name in ours, f"{group}: no gradient for {name}"
            note = check_gradient(name, ours[name], reference, lambda: exact_gradient(name), where=f"{group}/")
            if note:
                print(f"{fixture.name} {note}")


def test_noise_buffer_parity_rests_on_the_float64_gradient():
    exact = np.random.RandomState(0).randn(1, 1, 16, 16)
    flipped = exact.copy()
    flipped[0, 0, 3, 5] += 0.02 * np.abs(exact).max()  # one pixel's slope on the other side of the kink
    name = "G_synthesis/noise7"
    assert check_gradient(name, exact + 1e-7, exact, lambda: exact) is None
    assert "from float64: ours 0.00e+00" in check_gradient(name, exact, flipped, lambda: exact)  # the original flipped
    with pytest.raises(AssertionError, match="ours is farther from the float64 gradient"):
        check_gradient(name, flipped, exact, lambda: exact)  # ours flipped
    with pytest.raises(AssertionError, match="relative error 2.00e-02"):
        check_gradient("G_synthesis/4x4/Conv/weight", flipped, exact, lambda: exact)
