"""Reading the fixtures recorded from the ORIGINAL StyleGAN code and computing our counterparts.

Each fixture directory holds `network.pkl`, `expected.npz` (NCHW arrays) and `meta.json`, which
describes every recorded case; nothing here assumes one fixture's sizes or key list. Conversions
from the original's NCHW layout happen here, in the tests, never in the API.
"""

import functools
import json
import pathlib
import re

import numpy as np
import tensorflow as tf

from stylegan_tf import legacy

from conftest import REPO_FIXTURES_DIR, fixture_dirs

OUTPUT_TOLERANCE = 1e-4   # max |ours - original| <= OUTPUT_TOLERANCE * (1 + max |original|)
GRADIENT_TOLERANCE = 1e-3  # max |ours - original| <= GRADIENT_TOLERANCE * max |original|
# StyleGAN2's noise buffers: the original's own fused and non-fused forms differ by up to 1.2e-3.
NOISE_GRADIENT_TOLERANCE = 5e-3
GRADIENT_GROUP = re.compile(r"(G|D)_grads(?:_b(\d+))?_lod([0-9.]+)")


def gradient_tolerance(name):
    """The tolerance of one recorded gradient array."""
    return NOISE_GRADIENT_TOLERANCE if re.fullmatch(r"G_synthesis/noise\d+", name) else GRADIENT_TOLERANCE


def check_gradient(name, ours, original, exact, where=""):
    """Asserts parity of one gradient with the original's: within `gradient_tolerance(name)`, or, for
    a noise buffer, at least as close (+ GRADIENT_TOLERANCE) as the original's to `exact()`, the
    float64 evaluation (see test_parity.test_gradients for why). Returns the note of a buffer that
    passed the second way, else None. `where` prefixes the messages (e.g. the gradient group)."""
    error = gradient_error(ours, original)
    tolerance = gradient_tolerance(name)
    if error <= tolerance:
        return None
    assert tolerance == NOISE_GRADIENT_TOLERANCE, f"{where}{name}: relative error {error:.2e}"
    reference = exact()
    ours_error, original_error = gradient_error(ours, reference), gradient_error(original, reference)
    assert ours_error <= original_error + GRADIENT_TOLERANCE, (
        f"{where}{name}: relative error {error:.2e}, and ours is farther from the float64 gradient ({ours_error:.2e}) "
        f"than the original's ({original_error:.2e})")
    return (f"{where}{name}: ours - original {error:.2e}; from float64: ours {ours_error:.2e}, "
            f"original {original_error:.2e}")


def all_fixture_dirs():
    """Every network fixture: the StyleGAN and StyleGAN2 releases' shared directories, StyleGAN2-ADA's
    in tests/fixtures, plus $STYLEGAN_FIXTURES (each is dispatched on its meta.json, so the families
    can be mixed there)."""
    dirs = (fixture_dirs("original-stylegan")
            + fixture_dirs("original-stylegan2")
            + fixture_dirs("original-ada/networks", "STYLEGAN_FIXTURES", root=REPO_FIXTURES_DIR))
    return [directory for directory in dirs if fixture_family(directory) not in PYTORCH_FAMILIES]


PYTORCH_FAMILIES = ("ada-pytorch", "stylegan3-pytorch")


def fixture_family(directory):
    """The `family` of a fixture's meta.json (a directory without one fails here, it is not skipped)."""
    return json.loads((pathlib.Path(directory) / "meta.json").read_text()).get("family")


def pytorch_fixture_dirs():
    """Every fixture made by the PyTorch releases' code: tests/fixtures/original-ada-pytorch and
    original-stylegan3-pytorch, plus the directories of $STYLEGAN_FIXTURES whose meta.json names a
    PyTorch family."""
    dirs = (fixture_dirs("original-ada-pytorch", root=REPO_FIXTURES_DIR)
            + fixture_dirs("original-stylegan3-pytorch", "STYLEGAN_FIXTURES", root=REPO_FIXTURES_DIR))
    return [directory for directory in dirs if fixture_family(directory) in PYTORCH_FAMILIES]


@functools.lru_cache(maxsize=None)
def load_fixture(directory):
    """The Fixture of a directory, read (and its networks loaded) once per test process."""
    return Fixture(directory)


class Fixture:
    """One fixture directory: networks loaded through our loader, arrays, meta."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.name = self.directory.name
        self.meta = json.loads((self.directory / "meta.json").read_text())
        with np.load(self.directory / "expected.npz") as arrays:
            self.arrays = {key: arrays[key] for key in arrays.files}

    @functools.cached_property
    def networks(self):
        return legacy.load_networks(self.directory / "network.pkl")

    @property
    def labels(self):
        return self.arrays["labels"]

    def d_score_cases(self):
        """[(key, batch, lod)] of every recorded D output."""
        cases = []
        for key in self.meta["arrays"]:
            match = re.fullmatch(r"D_scores_b(\d+)_lod([0-9.]+)", key)
            if match:
                cases.append((key, int(match.group(1)), float(match.group(2))))
        return cases

    def gradient_groups(self):
        """Names of the recorded network gradient groups, e.g. 'G_grads_lod1.3', 'D_grads_b8_lod0.0'
        (loss groups such as 'D_r1_reg_grads' belong to the loss tests)."""
        return sorted(group for group in self.meta.get("disconnected_gradients", {})
                      if GRADIENT_GROUP.fullmatch(group))

    def gradient_arrays(self, group):
        prefix = group + "/"
        return {key[len(prefix):]: value for key, value in self.arrays.items()
                if key.startswith(prefix)}


def set_lod(net, lod):
    """Sets a progressive network's lod; the non-progressive StyleGAN2 ones have none (lod 0)."""
    if hasattr(net, "lod"):
        net.lod.assign(lod)
    elif lod != 0:
        raise ValueError(f"{net.name} is not progressive; it has no lod {lod}")


def nchw_to_nhwc(array):
    return np.transpose(array, [0, 2, 3, 1])


def relative_error(ours, original, tolerance_scale):
    ours, original = np.asarray(ours, np.float64), np.asarray(original, np.float64)
    assert ours.shape == original.shape, (ours.shape, original.shape)
    return float(np.max(np.abs(ours - original))) / tolerance_scale(original)


def output_error(ours, original):
    """max |ours - original| / (1 + max |original|); must be <= OUTPUT_TOLERANCE."""
    return relative_error(ours, original, lambda ref: 1.0 + float(np.max(np.abs(ref))))


def gradient_error(ours, original):
    """max |ours - original| / max |original| (absolute for an all-zero reference)."""
    return relative_error(ours, original, lambda ref: max(float(np.max(np.abs(ref))), 1e-6))


@functools.lru_cache(maxsize=None)
def float64_networks(fixture):
    """(G, D) of a fixture cloned in float64: the reference the float32 gradients are measured against."""
    G, D, _ = fixture.networks
    return G.clone(dtype="float64"), D.clone(dtype="float64")


def compute_gradients(fixture, group, dtype="float32"):
    """Our gradients for a recorded group, as {original name or input: array in NCHW layout};
    with dtype 'float64', those of the fixture's networks evaluated in float64."""
    match = GRADIENT_GROUP.fullmatch(group)
    if match is None:
        raise ValueError(f"unrecognised gradient group {group}")
    kind, batch, lod = match.group(1), match.group(2), float(match.group(3))
    G, D = float64_networks(fixture) if dtype == "float64" else fixture.networks[:2]
    net = G if kind == "G" else D
    variables = legacy.original_variables(net)
    set_lod(net, lod)
    # Non-trainable variables (noise buffers, dlatent_avg) get gradients in the original too.
    watched = [variable.value for variable in variables.values()]
    try:
        if kind == "G":
            count = fixture.meta["n_g"]
            inputs = tf.constant(fixture.arrays["latents"][:count], dtype)
            weights = tf.constant(nchw_to_nhwc(fixture.arrays["R"]), dtype)
            with tf.GradientTape() as tape:
                tape.watch([inputs] + watched)
                images = G(inputs, tf.constant(fixture.labels[:count], dtype), is_training=True,
                           style_mixing_prob=None, dlatent_avg_beta=None, randomize_noise=False)
                loss = tf.reduce_sum(images * weights)
            input_name = "latents_in"
        else:
            count = int(batch)
            inputs = tf.constant(nchw_to_nhwc(fixture.arrays["D_images_in"][:count]), dtype)
            with tf.GradientTape() as tape:
                tape.watch([inputs] + watched)
                loss = tf.reduce_sum(D(inputs, tf.constant(fixture.labels[:count], dtype)))
            input_name = "images_in"
        names = list(variables)
        grads = tape.gradient(loss, [variables[name].value for name in names] + [inputs])
    finally:
        set_lod(net, 0.0)
    result = {}
    for name, grad in zip(names, grads[:-1]):
        value = np.zeros(variables[name].shape, dtype) if grad is None else grad.numpy()
        result[name] = legacy.to_original_layout(name, value)
    input_grad = grads[-1].numpy()
    result[input_name] = np.transpose(input_grad, [0, 3, 1, 2]) if kind == "D" else input_grad
    return result


def worst_errors(fixture):
    """{case: error} for every recorded output and gradient group (worst over its arrays)."""
    G, D, Gs = fixture.networks
    count, count_g = fixture.meta["n_img"], fixture.meta["n_g"]
    latents, labels = fixture.arrays["latents"], fixture.labels
    errors = {"mapping": output_error(Gs.mapping(latents, labels),
                                      fixture.arrays["Gs_mapping_dlatents"])}
    for case in fixture.meta["truncation_cases"]:
        images = Gs(latents[:count], labels[:count], randomize_noise=False, **case["kwargs"])
        errors[case["images_key"]] = output_error(
            images, nchw_to_nhwc(fixture.arrays[case["images_key"]]))
    errors["synthesis"] = output_error(
        Gs.synthesis(fixture.arrays["synthesis_dlatents_in"], randomize_noise=False),
        nchw_to_nhwc(fixture.arrays["Gs_synthesis_images"]))
    for lod in fixture.meta["lods"]:
        set_lod(G, lod)
        images = G(latents[:count_g], labels[:count_g], is_training=True, style_mixing_prob=None,
                   dlatent_avg_beta=None, randomize_noise=False)
        errors[f"G_images_lod{lod:.1f}"] = output_error(
            images, nchw_to_nhwc(fixture.arrays[f"G_images_lod{lod:.1f}"]))
    set_lod(G, 0.0)
    d_images = nchw_to_nhwc(fixture.arrays["D_images_in"])
    for key, batch, lod in fixture.d_score_cases():
        set_lod(D, lod)
        errors[key] = output_error(D(d_images[:batch], labels[:batch]), fixture.arrays[key])
    set_lod(D, 0.0)
    for group in fixture.gradient_groups():
        ours = compute_gradients(fixture, group)
        errors[group] = max(gradient_error(ours[name], reference) * GRADIENT_TOLERANCE / gradient_tolerance(name)
                            for name, reference in fixture.gradient_arrays(group).items()
                            if not (name == "lod" or name.endswith("/lod")))
    return errors


if __name__ == "__main__":
    # Prints the worst parity errors per fixture: python tests/original_fixtures.py
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    for directory in all_fixture_dirs():
        errors = worst_errors(Fixture(directory))
        outputs = {k: v for k, v in errors.items() if "grads" not in k}
        grads = {k: v for k, v in errors.items() if "grads" in k}
        worst_out, worst_grad = max(outputs, key=outputs.get), max(grads, key=grads.get)
        print(f"{directory.name}: worst output error {outputs[worst_out]:.2e} ({worst_out}), "
              f"worst gradient error {grads[worst_grad]:.2e} ({worst_grad})")
