"""Networks pickled by stylegan2-ada-pytorch's and StyleGAN3's own code, read without torch, reproduce
their outputs.

Every directory of tests/fixtures/original-ada-pytorch and original-stylegan3-pytorch (made by
`tools/pytorch_fixtures.py`) and each one in $STYLEGAN_FIXTURES whose meta.json names a PyTorch family
is checked: mapping, truncation, synthesis with each noise mode, G, D at two batch sizes, every
gradient, fp16 layers, StyleGAN3's filters, and the TF release's format written back. The fixtures'
persistent classes carry a placeholder instead of the release's module source (the repository must
not hold it); its hash is passed as trusted (tests/unit/test_pytorch_pickles.py shows it is refused
without that).
"""

import functools
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import legacy, pytorch_networks

from original_fixtures import (
    OUTPUT_TOLERANCE,
    check_gradient,
    compute_gradients,
    gradient_error,
    nchw_to_nhwc,
    output_error,
    pytorch_fixture_dirs,
)

FIXTURE_DIRS = pytorch_fixture_dirs()


class PyTorchFixture:
    """One fixture directory, in the attributes original_fixtures.compute_gradients reads."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.meta = json.loads((self.directory / "meta.json").read_text())
        with np.load(self.directory / "expected.npz") as arrays:
            self.arrays = {key: arrays[key] for key in arrays.files}
        self.labels = self.arrays["labels"]
        self.trusted = tuple(self.meta["placeholder_sha256"])

    @functools.cached_property
    def networks(self):
        return legacy.load_networks(self.directory / "network.pkl", trusted_sources=self.trusted)

    is_stylegan3 = property(lambda self: self.meta.get("G_module") == "networks_stylegan3")

    def pytorch_gradients(self, kind):
        """The recorded gradients of G's or D's parameters, in the TF names and layouts."""
        prefix = f"{kind}_grads/"
        rules = "G3" if kind == "G" and self.is_stylegan3 else kind
        result = {}
        for key, value in self.arrays.items():
            if key.startswith(prefix) and key != prefix + "input":
                name, array = pytorch_networks.to_original(rules, key[len(prefix):], value, gradient=True)
                result[name] = array
        return result


@functools.lru_cache(maxsize=None)
def load(directory):
    return PyTorchFixture(directory)


@pytest.fixture(scope="module", params=FIXTURE_DIRS, ids=lambda path: path.name)
def fixture(request):
    return load(request.param)


def test_fixtures_were_found():
    families = [load(directory).meta["family"] for directory in FIXTURE_DIRS]
    assert families.count("ada-pytorch") >= 3, "no fixtures in tests/fixtures/original-ada-pytorch"
    assert families.count("stylegan3-pytorch") >= 3, "no fixtures in tests/fixtures/original-stylegan3-pytorch"
    assert any(load(d).is_stylegan3 and load(d).meta["G_init_kwargs"].get("use_radial_filters") for d in FIXTURE_DIRS)


def test_networks_are_rebuilt_as_the_tf_releases(fixture):
    G, D, Gs = fixture.networks
    init = fixture.meta["G_init_kwargs"]
    g_func = "G_stylegan3" if fixture.is_stylegan3 else "G_main"
    assert (G.FUNC_NAME, D.FUNC_NAME, G.state_version) == (g_func, "D_main", 5)
    assert (Gs.latent_size, Gs.label_size, Gs.dlatent_size, Gs.resolution) == (
        init["z_dim"], init["c_dim"], init["w_dim"], init["img_resolution"])
    # The fixtures' placeholder sources are trusted, not known: the networks record that.
    assert G.source_format.startswith("pytorch: trusted module source ")
    np.testing.assert_array_equal(Gs.dlatent_avg.numpy(), fixture.arrays["G_ema_w_avg"])


def test_mapping_and_truncation(fixture):
    _, _, Gs = fixture.networks
    z, c, count = fixture.arrays["latents"], fixture.labels, fixture.meta["n_img"]
    assert output_error(Gs.mapping(z, c), fixture.arrays["G_ema_mapping_ws"]) <= OUTPUT_TOLERANCE
    for case in fixture.meta["truncation_cases"]:
        kwargs = {k: v for k, v in case["kwargs"].items() if v is not None}
        images = Gs(z[:count], c[:count], randomize_noise=False, **kwargs)
        assert output_error(images, nchw_to_nhwc(fixture.arrays[case["images_key"]])) <= OUTPUT_TOLERANCE, case
        dlatents = Gs.compute_dlatents(z[:count], c[:count], **kwargs)
        assert output_error(dlatents, fixture.arrays[case["ws_key"]]) <= OUTPUT_TOLERANCE, case


def test_synthesis_with_each_noise_mode(fixture):
    """noise_mode 'const' is our stored noise; 'none' is the same network with the noise buffers at 0."""
    _, _, Gs = fixture.networks
    ws = fixture.arrays["synthesis_dlatents_in"]
    const = Gs.synthesis(ws, randomize_noise=False)
    assert output_error(const, nchw_to_nhwc(fixture.arrays["G_ema_synthesis_const"])) <= OUTPUT_TOLERANCE
    noise = {name: var for name, var in legacy.original_variables(Gs).items() if name.startswith("G_synthesis/noise")}
    saved = {name: var.numpy() for name, var in noise.items()}
    try:
        for var in noise.values():
            var.assign(tf.zeros_like(var))
        silent = Gs.synthesis(ws, randomize_noise=False)
    finally:
        for name, var in noise.items():
            var.assign(saved[name])
    assert output_error(silent, nchw_to_nhwc(fixture.arrays["G_ema_synthesis_none"])) <= OUTPUT_TOLERANCE
    if noise:  # the modes differ, so each comparison saw its own noise
        assert output_error(fixture.arrays["G_ema_synthesis_none"], fixture.arrays["G_ema_synthesis_const"]) > 1e-3


def test_training_generator_and_discriminator(fixture):
    G, D, _ = fixture.networks
    z, c, count = fixture.arrays["latents"], fixture.labels, fixture.meta["n_g"]
    images = G(z[:count], c[:count], is_training=True, style_mixing_prob=None, dlatent_avg_beta=None,
               randomize_noise=False)
    assert output_error(images, nchw_to_nhwc(fixture.arrays["G_images"])) <= OUTPUT_TOLERANCE
    reals = nchw_to_nhwc(fixture.arrays["D_images_in"])
    for batch in (fixture.meta["d_batch"], fixture.meta["n_img"]):
        assert output_error(D(reals[:batch], c[:batch]), fixture.arrays[f"D_scores_b{batch}"]) <= OUTPUT_TOLERANCE


@pytest.mark.parametrize("kind", ["G", "D"])
def test_gradients(fixture, kind):
    """d sum(G(z) * R) and d sum(D(x)) w.r.t. every trainable parameter and the input, as recorded by
    torch.autograd (Freeze-D's frozen layers are buffers there, and non-trainable variables here)."""
    group = "G_grads_lod0.0" if kind == "G" else f"D_grads_b{fixture.meta['d_batch']}_lod0.0"
    ours = compute_gradients(fixture, group)
    recorded = fixture.pytorch_gradients(kind)
    net = fixture.networks[0 if kind == "G" else 1]
    trainable = {name for name, var in legacy.original_variables(net).items() if var.trainable}
    assert set(recorded) == trainable
    for name, reference in recorded.items():
        check_gradient(name, ours[name], reference, exact=None, where=f"{fixture.directory.name} {kind}: ")
    key = "latents_in" if kind == "G" else "images_in"
    assert gradient_error(ours[key], fixture.arrays[f"{kind}_grads/input"]) <= 1e-3


FP16_DIRS = [directory for directory in FIXTURE_DIRS if load(directory).meta["fp16_outputs"]]


@pytest.mark.parametrize("directory", FP16_DIRS, ids=lambda path: path.name)
def test_fp16_layers_within_the_releases_own_rounding(directory):
    """Ours in float16 over the pickle's fp16 resolutions against the release's CPU half-precision outputs."""
    fixture = load(directory)
    _, D, Gs = fixture.networks
    arrays = fixture.arrays
    fp16_res = fixture.meta["G_init_kwargs"]["synthesis_kwargs"]["num_fp16_res"]
    clamp = fixture.meta["G_init_kwargs"]["synthesis_kwargs"].get("conv_clamp")
    low_Gs = Gs.clone(precision="fp16", num_fp16_res=fp16_res, conv_clamp=clamp)
    release, release32 = (nchw_to_nhwc(arrays[k]) for k in ("G_ema_synthesis_const_fp16", "G_ema_synthesis_const"))
    rounding = output_error(release, release32)
    assert 1e-4 < rounding < 5e-2
    assert output_error(low_Gs.synthesis(arrays["synthesis_dlatents_in"], randomize_noise=False), release) \
        <= 2 * rounding
    d_fp16 = fixture.meta["D_init_kwargs"].get("num_fp16_res", 0)
    low_D = D.clone(precision="fp16", num_fp16_res=d_fp16, conv_clamp=fixture.meta["D_init_kwargs"].get("conv_clamp"))
    batch = fixture.meta["d_batch"]
    rounding = output_error(arrays[f"D_scores_b{batch}_fp16"], arrays[f"D_scores_b{batch}"])
    scores = low_D(nchw_to_nhwc(arrays["D_images_in"]), fixture.labels)
    assert output_error(scores, arrays[f"D_scores_b{batch}_fp16"]) <= 2 * rounding + 1e-4


def test_some_fixture_has_fp16_layers():
    assert FP16_DIRS


def test_written_back_in_the_tf_releases_format(fixture, tmp_path):
    """save_networks writes a state-version-5 pickle (G_main / D_main) that loads with no trust needed
    and computes the same images and scores."""
    G, D, Gs = fixture.networks
    path = tmp_path / "converted.pkl"
    legacy.save_networks(path, G, D, Gs)
    states = legacy.read_pickle(path)
    g_func = "G_stylegan3" if fixture.is_stylegan3 else "G_main"
    assert [s.state["build_func_name"] for s in states] == [g_func, "D_main", g_func]
    assert {s.state["version"] for s in states} == {5}
    G2, D2, Gs2 = legacy.load_networks(path)
    z, c = fixture.arrays["latents"][:2], fixture.labels[:2]
    np.testing.assert_array_equal(Gs2(z, c, randomize_noise=False).numpy(), Gs(z, c, randomize_noise=False).numpy())
    reals = nchw_to_nhwc(fixture.arrays["D_images_in"][:4])
    np.testing.assert_array_equal(D2(reals, fixture.labels[:4]).numpy(), D(reals, fixture.labels[:4]).numpy())
    for a, b in ((G, G2), (D, D2)):
        for name, var in legacy.original_variables(a).items():
            np.testing.assert_array_equal(legacy.original_variables(b)[name].numpy(), var.numpy(), err_msg=name)


STYLEGAN3_DIRS = [directory for directory in FIXTURE_DIRS if load(directory).is_stylegan3]


@pytest.mark.parametrize("directory", STYLEGAN3_DIRS, ids=lambda path: path.name)
def test_stylegan3_filters_are_designed_as_the_release_designs_them(directory):
    """A StyleGAN3 generator built from its kwargs alone designs the same filters (Kaiser, or jinc for
    R's radial down filters), cutoffs and pads as the release: the stored filters match ours."""
    fixture = load(directory)
    _, _, Gs = fixture.networks
    fresh = type(Gs)(name="fresh", **Gs.static_kwargs)
    stored, designed = legacy.original_variables(Gs), legacy.original_variables(fresh)
    assert set(stored) == set(designed)
    filters = [name for name in stored if name.endswith("_filter")]
    assert len(filters) >= 10 and any(len(stored[name].shape) == 2 for name in filters) == fixture.meta[
        "G_init_kwargs"].get("use_radial_filters", False)
    for name in filters:
        np.testing.assert_allclose(designed[name].numpy(), stored[name].numpy(), rtol=1e-5, atol=1e-7, err_msg=name)
