"""The augmentation pipeline against StyleGAN2-ADA's TF release (`tools/ada_fixtures.py augment`).

Every case of every fixture (`tests/fixtures/original-ada/*` of kind 'ada-augment', plus the
directories in $STYLEGAN_ADA_FIXTURES): the release's `augment_pipeline` with `debug_percentile`
at p = 1, each op alone and each preset, RGB and grayscale, fed the same noise images. Checked:
images (both padding modes), the warp's sampling transform, and the gradient w.r.t. the images:
equal to the release's where its warp gradient is exact (no warp, or an integer-pixel one), and
otherwise the exact adjoint of our own map (the release's inverse-warp gradient is an approximation).
"""

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import augment, names
from stylegan_tf.ops import image_transforms

from original_fixtures import GRADIENT_TOLERANCE, OUTPUT_TOLERANCE, gradient_error, nchw_to_nhwc, output_error

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "original-ada"
# Ops whose release gradient is exact: no warp, or a warp that moves whole pixels.
EXACT_RELEASE_GRADIENT = {"xflip", "rotate90", "xint", "brightness", "contrast", "lumaflip", "hue", "saturation",
                          "imgfilter", "noise", "cutout", "xfrac"}


def augment_fixture_dirs():
    dirs = [path.parent for path in sorted(FIXTURES.glob("*/meta.json"))]
    dirs += [pathlib.Path(path) for path in os.environ.get("STYLEGAN_ADA_FIXTURES", "").split(",") if path]
    return [d for d in dirs if json.loads((d / "meta.json").read_text())["kind"] == "ada-augment"]


def _cases():
    cases = []
    for directory in augment_fixture_dirs():
        meta = json.loads((directory / "meta.json").read_text())
        cases += [pytest.param(directory, case, id=f"{directory.name}:{case['name']}") for case in meta["cases"]]
    return cases


_ARRAYS = {}


def arrays_of(directory):
    if directory not in _ARRAYS:
        with np.load(directory / "expected.npz") as data:
            _ARRAYS[directory] = {key: data[key] for key in data.files}
    return _ARRAYS[directory]


class FedNoise(augment.RandomDraws):
    """Draws for debug_percentile at p = 1 (the gates pass whatever is drawn) with the release's
    recorded noise image."""

    def __init__(self, batch, noise):
        super().__init__(batch)
        self.noise = noise

    def noise_image(self, shape):
        return tf.constant(self.noise)


def pipeline_of(case):
    return augment.AugmentPipeline(None, **{op: float(value) for op, value in case["ops"].items()})


def run_case(arrays, case, static_padding):
    channels = case["channels"]
    images = tf.constant(nchw_to_nhwc(arrays[f"images_c{channels}"]))
    weights = nchw_to_nhwc(arrays[f"grad_weights_c{channels}"])
    draws = FedNoise(images.shape[0], nchw_to_nhwc(arrays[f"noise_c{channels}"]))
    with tf.GradientTape() as tape:
        tape.watch(images)
        output = pipeline_of(case)(images, 1.0, draws, debug_percentile=case["percentile"],
                                   static_padding=static_padding)
        total = tf.reduce_sum(output * weights)
    return images.numpy(), output.numpy(), tape.gradient(total, images).numpy()


def test_fixtures_were_found():
    dirs = augment_fixture_dirs()
    assert dirs, f"no augmentation fixtures under {FIXTURES}"
    recorded = {case["name"] for d in dirs for case in json.loads((d / "meta.json").read_text())["cases"]}
    for op in augment.OP_DEFAULTS:
        if op in names.AUGMENT_OPS:
            assert any(name.startswith(f"op-{op}-") for name in recorded), op
    for preset in names.AUGMENT_PIPES:
        assert any(name.startswith(f"preset-{preset}-") for name in recorded), preset


def test_presets_match_the_release():
    for directory in augment_fixture_dirs():
        for case in json.loads((directory / "meta.json").read_text())["cases"]:
            if case["name"].startswith("preset-"):
                preset = case["name"].split("-")[1]
                enabled = {op for op, value in augment.pipeline_ops(preset).items()
                           if op in names.AUGMENT_OPS and value}
                assert enabled == set(case["ops"]), preset


@pytest.mark.parametrize("directory,case", _cases())
def test_augmentation_matches_the_release(directory, case):
    arrays = arrays_of(directory)
    expected = nchw_to_nhwc(arrays[f"{case['name']}/output"])
    for static_padding in (True, False):
        images, output, grad = run_case(arrays, case, static_padding)
        assert output_error(output, expected) <= OUTPUT_TOLERANCE, (static_padding, output_error(output, expected))
    if case["has_transforms"]:  # the release's sampling transform (dynamic margins), first 8 entries
        pipeline = pipeline_of(case)
        batch, size = images.shape[0], images.shape[1]
        inverse = pipeline.geometric_matrix(batch, size, size, tf.constant(1.0), augment.RandomDraws(batch),
                                            case["percentile"])
        low, _ = image_transforms.warp_margins(inverse, size, size, static_padding=False)
        ours = tf.reshape(image_transforms.sampling_transform(inverse, size, size, low), [batch, 9])[:, :8].numpy()
        np.testing.assert_allclose(ours, arrays[f"{case['name']}/transforms"], rtol=1e-5, atol=1e-4)
    if case.get("has_grad"):
        release_grad = nchw_to_nhwc(arrays[f"{case['name']}/grad"])
        if set(case["ops"]) <= EXACT_RELEASE_GRADIENT:
            assert gradient_error(grad, release_grad) <= GRADIENT_TOLERANCE
        # Ours is the adjoint of the (affine) map: <L(x2 - x1), w> = <x2 - x1, grad>.
        rng = np.random.RandomState(0)
        delta = rng.normal(size=images.shape).astype(np.float32) * 0.1
        key = f"images_c{case['channels']}"
        shifted = {**arrays, key: arrays[key] + np.transpose(delta, [0, 3, 1, 2])}
        _, output2, _ = run_case(shifted, case, True)
        weights = nchw_to_nhwc(arrays[f"grad_weights_c{case['channels']}"])
        lhs = float(np.sum((output2.astype(np.float64) - output) * weights))
        rhs = float(np.sum(delta.astype(np.float64) * grad))
        assert abs(lhs - rhs) <= 1e-3 * (abs(rhs) + 1), (lhs, rhs)
