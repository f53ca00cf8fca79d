"""Metrics: the formulas on hand-checked values, then FID / PPL / LS / run_metrics.py end to end
with a tiny random network against a few real faces (shared/data/frl_faces_256)."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from stylegan_tf import cli, legacy, networks, ops
from stylegan_tf import images as image_utils
from stylegan_tf.metrics import (
    evaluation,
    frechet_inception_distance,
    linear_separability,
    perceptual_path_length,
    precision_recall,
    registry,
    reporting,
)

from conftest import FACES_DIR, REPO_ROOT

RESOLUTION = 32
NUM_FACES = 16
TINY_G = dict(resolution=RESOLUTION, num_channels=3, fmap_base=128, fmap_max=32, latent_size=32,
              dlatent_size=32, mapping_fmaps=32, mapping_layers=2)
TINY_D = dict(resolution=RESOLUTION, num_channels=3, fmap_base=128, fmap_max=32)


# ----------------------------------------------------------------------------------------------
# Formulas.

def test_frechet_distance_of_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    var1, var2 = np.array([1.0, 4.0, 9.0, 0.25]), np.array([4.0, 4.0, 1.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_inception_distance.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == \
        pytest.approx(expected, rel=1e-12)
    assert frechet_inception_distance.frechet_distance(mu1, np.diag(var1), mu1, np.diag(var1)) == \
        pytest.approx(0.0, abs=1e-12)


def test_feature_statistics_use_unbiased_covariance():
    features = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]], np.float32)
    mu, sigma = frechet_inception_distance.feature_statistics(features)
    np.testing.assert_allclose(mu, [3.0, 4.0])
    np.testing.assert_allclose(sigma, [[4.0, 2.0], [2.0, 4.0]])


def test_conditional_entropy_in_bits():
    # Prediction independent of a fair target: 1 bit left; perfect prediction: 0 bits.
    assert linear_separability.conditional_entropy([[0.25, 0.25], [0.25, 0.25]]) == pytest.approx(1.0, abs=1e-6)
    assert linear_separability.conditional_entropy([[0.5, 0.0], [0.0, 0.5]]) == pytest.approx(0.0, abs=1e-6)
    # P[pred, target] = [[0.4, 0.1], [0.1, 0.4]]: H(T|P) = H(0.8, 0.2) = 0.7219 bits.
    expected = -(0.8 * math.log2(0.8) + 0.2 * math.log2(0.2))
    assert linear_separability.conditional_entropy([[0.4, 0.1], [0.1, 0.4]]) == pytest.approx(expected, abs=1e-6)


def test_separability_entropy_keeps_most_confident_and_fits_svm():
    rng = np.random.RandomState(0)
    inputs = rng.randn(200, 8)
    logits = 3.0 * inputs[:, 0]  # linearly separable attribute
    probabilities = np.stack([1 / (1 + np.exp(-2 * logits)), 1 / (1 + np.exp(2 * logits))], axis=1)
    assert linear_separability.separability_entropy(inputs, probabilities, 100) == pytest.approx(0.0, abs=1e-6)
    # A single class among the kept samples: the original counts the prediction as perfect.
    one_class = np.tile([[0.9, 0.1]], [200, 1])
    assert linear_separability.separability_entropy(inputs, one_class, 100) == 0.0


def test_ppl_filter_uses_lower_and_higher_percentiles():
    distances = np.arange(1.0, 201.0)  # 1st percentile (lower) = 2, 99th (higher) = 199
    assert perceptual_path_length.filtered_mean(distances) == pytest.approx(np.mean(np.arange(2.0, 200.0)))


def test_slerp_lerp_and_interleave():
    rng = np.random.RandomState(1)
    a, b = rng.randn(5, 16).astype(np.float32), rng.randn(5, 16).astype(np.float32)
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(perceptual_path_length.slerp(a, b, np.zeros([5, 1], np.float32)), unit(a), atol=1e-5)
    np.testing.assert_allclose(perceptual_path_length.slerp(a, b, np.ones([5, 1], np.float32)), unit(b), atol=1e-5)
    middle = perceptual_path_length.slerp(a, b, np.full([5, 1], 0.5, np.float32)).numpy()
    np.testing.assert_allclose(np.linalg.norm(middle, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(middle, unit(unit(a) + unit(b)), atol=1e-5)  # the bisector
    np.testing.assert_allclose(ops.lerp(a, b, 0.25), a + (b - a) * 0.25, atol=1e-6)
    interleaved = perceptual_path_length.interleave(tf.constant(a), tf.constant(b)).numpy()
    np.testing.assert_array_equal(interleaved[0::2], a)
    np.testing.assert_array_equal(interleaved[1::2], b)


def test_face_crop_box_downsample_and_uint8():
    images = tf.reshape(tf.range(2 * 1024 * 1024 * 3, dtype=tf.float32), [2, 1024, 1024, 3])
    crop = perceptual_path_length.face_crop(images)
    assert crop.shape == (2, 512, 512, 3)
    np.testing.assert_array_equal(crop[0, 0, 0], images[0, 384, 256])  # rows 3c:7c, cols 2c:6c, c = 128
    small = evaluation.box_downsample(crop, 256).numpy()
    np.testing.assert_allclose(small[1, 3, 5], crop.numpy()[1, 6:8, 10:12].mean(axis=(0, 1)), rtol=1e-6)
    assert evaluation.box_downsample(crop[:, :256, :256], 256).shape == (2, 256, 256, 3)
    uint8 = image_utils.to_uint8_tensor([-2.0, -1.0, -0.0039, 0.0, 0.99, 1.0]).numpy()
    np.testing.assert_array_equal(uint8, [0, 0, 127, 128, 254, 255])


def test_result_line_and_time_format():
    results = [reporting.MetricResult("ls", "_z", 165.0106), reporting.MetricResult("ls", "_w", 3.7447)]
    line = reporting.result_line("/x/karras2019stylegan-ffhq-1024x1024.pkl", 36000 + 125, results)
    # '%-30s' name ('...' + last 26 characters), ' time %-12s', then ' name %-10.4f' per result.
    assert line == ("...019stylegan-ffhq-1024x1024 " + " time 10h 02m 05s " +
                    " ls_z 165.0106  " + " ls_w 3.7447    ")
    assert cli.format_time(59.4) == "59s"
    assert cli.format_time(61) == "1m 01s"
    assert cli.format_time(2 * 86400 + 3 * 3600 + 60 * 4 + 5) == "2d 03h 04m"


def test_metric_names():
    assert registry.get_metric("fid50k").num_images == 50000
    assert registry.get_metric("fid10k").name == "fid10k"
    assert registry.get_metric("fid50k", num_images=1000).name == "fid1k"
    assert registry.get_metric("fid250").num_images == 250
    ppl = registry.get_metric("ppl_zfull")
    assert (ppl.space, ppl.sampling, ppl.num_samples, ppl.epsilon, ppl.minibatch_per_gpu) == \
        ("z", "full", 100000, 1e-4, 16)
    assert registry.get_metric("ppl_wend", num_images=500).name == "ppl_wend-n500"
    ppl2 = registry.get_metric("ppl2_wend")
    assert (ppl2.space, ppl2.sampling, ppl2.num_samples, ppl2.minibatch_per_gpu, ppl2.crop) == \
        ("w", "end", 50000, 4, False)
    assert ppl.crop and registry.get_metric("ppl2_wend", num_images=64).name == "ppl2_wend-n64"
    ls = registry.get_metric("ls")
    assert (ls.num_samples, ls.num_keep, len(ls.attribute_indices), ls.minibatch_per_gpu) == (200000, 100000, 40, 4)
    with pytest.raises(ValueError, match="unknown metric"):
        registry.get_metric("is50k")


# ----------------------------------------------------------------------------------------------
# End to end with a tiny network.

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A TFRecord set of a few real faces at 32x32, a tiny random network and two stand-in
    attribute classifiers saved as the original's single-network pickles."""
    from stylegan_tf.dataset.writer import TFRecordExporter

    root = tmp_path_factory.mktemp("metrics")
    faces = sorted(FACES_DIR.glob("*.png"))[:NUM_FACES]
    assert len(faces) == NUM_FACES, f"faces not found in {FACES_DIR}"
    with TFRecordExporter(str(root / "faces"), progress=False) as exporter:
        for path in faces:
            image = Image.open(path).convert("RGB").resize((RESOLUTION, RESOLUTION), Image.BOX)
            exporter.add_image(np.asarray(image).transpose(2, 0, 1))

    tf.random.set_seed(7)
    G = networks.Generator(**TINY_G)
    D = networks.Discriminator(**TINY_D)
    legacy.save_networks(root / "network-snapshot-000000.pkl", G, D, G.clone())

    classifier_dir = root / "classifiers"
    classifier_dir.mkdir()
    images = G(np.random.RandomState(0).randn(64, TINY_G["latent_size"]), None, is_validation=True)
    for index in range(2):
        classifier = networks.Discriminator(mbstd_group_size=0, name="D", **TINY_D)
        # Centre the logits so that both classes occur, as for a trained attribute classifier.
        bias = classifier.original_variables()["4x4/Dense1/bias"]
        bias.assign(bias - np.median(classifier(images, None).numpy()))
        legacy.save_network(classifier_dir / linear_separability.CLASSIFIER_FILES[index], classifier)
    return root


def options_for(workdir, **kwargs):
    return evaluation.EvaluationOptions(tfrecord_dir=str(workdir / "faces"), cache_dir=str(workdir / "cache"),
                                         classifier_dir=str(workdir / "classifiers"), progress=False, **kwargs)


@pytest.mark.slow
def test_fake_features_are_reproducible(workdir):
    _G, _D, Gs = legacy.load_networks(workdir / "network-snapshot-000000.pkl")
    inception = frechet_inception_distance.feature_networks.inception_v3()
    fid = registry.get_metric("fid4", minibatch_per_gpu=4)
    first = fid.fake_features(Gs, options_for(workdir), inception)
    second = fid.fake_features(Gs, options_for(workdir), inception)
    other = fid.fake_features(Gs, options_for(workdir, seed=5), inception)
    assert first.shape == (4, 2048) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - other).max() > 1e-3


@pytest.mark.slow
def test_ppl_is_reproducible_and_leaves_noise_untouched(workdir):
    _G, _D, Gs = legacy.load_networks(workdir / "network-snapshot-000000.pkl")
    noise = [buffer.numpy() for buffer in Gs.synthesis.noise_buffers]
    values = {}
    for name in ("ppl_wend", "ppl_zfull"):
        metric = registry.get_metric(name, num_images=32)
        first = metric.evaluate(Gs, options_for(workdir))[0].value
        second = metric.evaluate(Gs, options_for(workdir))[0].value
        assert math.isfinite(first) and first > 0
        assert first == second
        values[name] = first
    for before, buffer in zip(noise, Gs.synthesis.noise_buffers):
        np.testing.assert_array_equal(before, buffer.numpy())
    print(f"tiny random network: {values}")


@pytest.mark.slow
def test_ls_with_stand_in_classifiers(workdir):
    _G, _D, Gs = legacy.load_networks(workdir / "network-snapshot-000000.pkl")
    metric = linear_separability.LS("ls", num_samples=64, num_keep=32, attribute_indices=[0, 1])
    results = metric.evaluate(Gs, options_for(workdir))
    assert [result.name for result in results] == ["ls_z", "ls_w"]
    for result in results:
        assert math.isfinite(result.value) and 1.0 <= result.value <= 4.0  # 2^(2 attributes x <= 1 bit)
    missing = linear_separability.LS("ls", num_samples=8, num_keep=4, attribute_indices=[0, 5])
    with pytest.raises(FileNotFoundError, match="celebahq-classifier-05-5-o-clock-shadow.pkl"):
        missing.evaluate(Gs, options_for(workdir))


@pytest.fixture(scope="module")
def command_run(workdir):
    """run_metrics.py on the tiny network's run directory, once: (completed process, result dir)."""
    result_dir = workdir / "results"
    command = [sys.executable, str(REPO_ROOT / "run_metrics.py"), f"--network={workdir}",
               "--metrics=fid50k,ppl_wend,dummy", f"--num_images={NUM_FACES}", f"--data_dir={workdir / 'faces'}",
               f"--cache_dir={workdir / 'cache'}", f"--outdir={result_dir}", "--noprogress"]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return completed, result_dir


@pytest.mark.slow
def test_run_metrics_command(command_run):
    completed, result_dir = command_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    values = {}
    for name in (f"fid{NUM_FACES}", f"ppl_wend-n{NUM_FACES}", f"dummy-n{NUM_FACES}"):
        lines = (result_dir / f"metric-{name}.txt").read_text().splitlines()
        assert len(lines) == 1 and lines[0].startswith("network-snapshot-000000 ") and f" {name} " in lines[0]
        record = json.loads((result_dir / f"metric-{name}.jsonl").read_text())
        assert record["network"].endswith("network-snapshot-000000.pkl")
        values[name] = record["results"][name]
        assert math.isfinite(values[name])
        assert f"{name} took" in completed.stdout
    print(f"tiny random network vs {NUM_FACES} faces: {values}")
    assert values[f"fid{NUM_FACES}"] > 1.0  # a random network is far from the faces


class ReplayGenerator:
    """Stands in for Gs and returns the dataset's own images, so that FID compares the set with itself."""

    def __init__(self, images_uint8):
        self.images = tf.constant(images_uint8.astype(np.float32) / 127.5 - 1.0)
        self.latent_size, self.label_size, self.offset = 4, 0, tf.Variable(0)

    def __call__(self, latents, labels, **kwargs):
        count = tf.shape(latents)[0]
        batch = self.images[self.offset:self.offset + count]
        self.offset.assign_add(count)
        return batch


@pytest.mark.slow
def test_fid_of_the_reals_against_themselves_is_zero(workdir, command_run):
    # The command cached the real statistics under the original's key; this run reuses them.
    fid = registry.get_metric("fid50k", num_images=NUM_FACES)
    options = options_for(workdir)
    cache_file = evaluation.real_statistics_cache_file(options, fid.name, num_images=NUM_FACES)
    assert cache_file.is_file()
    reals = next(evaluation.iterate_reals(options, NUM_FACES))
    distance = fid.evaluate(ReplayGenerator(reals), options)[0].value
    print(f"FID of {NUM_FACES} faces against themselves: {distance:.2e}")
    assert abs(distance) <= 1e-3


def test_run_metrics_rejects_a_missing_network(tmp_path):
    completed = subprocess.run([sys.executable, str(REPO_ROOT / "run_metrics.py"),
                                f"--network={tmp_path / 'missing.pkl'}"],
                               capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines()[-1].startswith("Error: --network: no such file")


@pytest.mark.slow
def test_ppl2_wend_on_a_stylegan2_network(workdir):
    """StyleGAN2's whole-image variant on a G_main: reproducible, and not the face-crop value."""
    tf.random.set_seed(3)
    Gs = networks.GeneratorMain(resolution=RESOLUTION, fmap_base=64, fmap_max=16, latent_size=16,
                                dlatent_size=16, mapping_layers=2, name="Gs")
    whole = registry.get_metric("ppl2_wend", num_images=16)
    value = whole.evaluate(Gs, options_for(workdir))[0].value
    assert math.isfinite(value) and value > 0
    assert whole.evaluate(Gs, options_for(workdir))[0].value == value
    cropped = registry.get_metric("ppl_wend", num_images=16, minibatch_per_gpu=4)
    assert cropped.evaluate(Gs, options_for(workdir))[0].value != value


# ----------------------------------------------------------------------------------------------
# Precision and recall (StyleGAN2's pr50k3).

def _brute_force_precision_recall(reals, fakes, k):
    def distances(a, b):
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    real_radii = np.sort(distances(reals, reals), axis=1)[:, k]
    fake_radii = np.sort(distances(fakes, fakes), axis=1)[:, k]
    precision = np.mean(np.any(distances(fakes, reals) <= real_radii[None], axis=1))
    recall = np.mean(np.any(distances(reals, fakes) <= fake_radii[None], axis=1))
    return precision, recall


def test_precision_recall_manifolds():
    # Small integers: the float16 distances are exact, so a float64 brute force must agree.
    rng = np.random.RandomState(0)
    reals = rng.randint(0, 6, [40, 3]).astype(np.float32)
    fakes = np.concatenate([reals[:10] + 1, rng.randint(8, 12, [15, 3])]).astype(np.float32)
    for k in (1, 3):
        ours = precision_recall.precision_recall(reals, fakes, k, row_batch_size=7, col_batch_size=9)
        assert ours == pytest.approx(_brute_force_precision_recall(reals, fakes, k), abs=0)
    assert precision_recall.precision_recall(reals, reals, 3) == (1.0, 1.0)
    # radius = the 3rd nearest other sample: a set of points 0, 1, 2, ... on a line
    line = np.arange(10, dtype=np.float32)[:, None]
    radii = precision_recall.manifold_radii(line, 3)
    assert radii[0] == 9 and radii[5] == 4  # 0 -> 3 (distance^2 9); 5 -> 3 or 7 after 4, 6 (4)


def _synthetic_vgg16_pickle(path, widths=(4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8, 8), fc=(16, 12, 10)):
    """A pickle with vgg16.pkl's layout (a dnnlib Network of 13 conv and 3 dense layers, kernel
    then bias each), at small widths."""
    rng = np.random.RandomState(1)
    variables, channels = [], 3
    for index, width in enumerate(widths):
        variables += [(f"conv{index}/weight", rng.randn(3, 3, channels, width).astype(np.float32) * 0.3),
                      (f"conv{index}/bias", rng.randn(width).astype(np.float32) * 0.1)]
        channels = width
    inputs = 7 * 7 * channels
    for index, width in enumerate(fc):
        # small enough that the float16 squared norms stay finite, as VGG16 fc2 features do
        variables += [(f"fc{index + 6}/weight", rng.randn(inputs, width).astype(np.float32) * 0.002),
                      (f"fc{index + 6}/bias", rng.randn(width).astype(np.float32) * 0.1)]
        inputs = width
    legacy._write_atomically(path, legacy._network_state(4, "vgg16", "vgg16", {}, variables))
    return path


def test_vgg16_pickle_is_rebuilt_and_checked(tmp_path):
    vgg16 = precision_recall.load_vgg16(_synthetic_vgg16_pickle(tmp_path / "vgg16.pkl"))
    images = np.random.RandomState(2).randint(0, 256, [3, 40, 40, 3]).astype(np.uint8)
    features = vgg16(images).numpy()
    assert features.shape == (3, 12) and np.all(features >= 0) and features.max() > 0  # fc2 after its ReLU
    # The same numbers from Keras layers built independently of the module.
    import keras
    _func, variables = legacy.read_network_variables(tmp_path / "vgg16.pkl")
    arrays = [value for _, value in variables]
    x = tf.image.resize(tf.cast(images, tf.float32), [224, 224])[..., ::-1] - [103.939, 116.779, 123.68]

    def weighted(layer, x, index):
        layer.build(x.shape)
        layer.set_weights([arrays[2 * index], arrays[2 * index + 1]])
        return layer(x)
    for index in range(13):
        x = weighted(keras.layers.Conv2D(arrays[2 * index].shape[-1], 3, padding="same",
                                         activation="relu"), x, index)
        if index in (1, 3, 6, 9, 12):
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    for index in (13, 14):
        x = weighted(keras.layers.Dense(arrays[2 * index].shape[-1], activation="relu"), x, index)
    np.testing.assert_allclose(features, x.numpy(), rtol=1e-4, atol=1e-5)

    with pytest.raises(ValueError, match="vgg16.pkl.*nvlabs-fi-cdn.nvidia.com.*--vgg16_pkl"):
        precision_recall.load_vgg16(tmp_path / "missing.pkl")
    _synthetic_vgg16_pickle(tmp_path / "short.pkl", widths=(4,) * 12)
    with pytest.raises(ValueError, match="12 conv and 3 dense layers"):
        precision_recall.load_vgg16(tmp_path / "short.pkl")


@pytest.mark.slow
def test_pr_end_to_end_with_a_synthetic_vgg16(workdir, tmp_path):
    _G, _D, Gs = legacy.load_networks(workdir / "network-snapshot-000000.pkl")
    path = _synthetic_vgg16_pickle(tmp_path / "vgg16.pkl")
    metric = registry.get_metric("pr50k3", num_images=NUM_FACES, vgg16_pkl=str(path), minibatch_per_gpu=8)
    assert (metric.name, metric.nhood_size) == (f"pr{NUM_FACES}-k3", 3)
    results = {r.name: r.value for r in metric.evaluate(Gs, options_for(workdir))}
    assert set(results) == {f"pr{NUM_FACES}-k3_precision", f"pr{NUM_FACES}-k3_recall"}
    assert all(0.0 <= value <= 1.0 for value in results.values())
    # Reals against themselves (the cached real features as fakes): both are 1.
    reals = metric.real_features(options_for(workdir), precision_recall.load_vgg16(path))
    assert reals.shape == (NUM_FACES, 12)
    assert precision_recall.precision_recall(reals, reals, 3) == (1.0, 1.0)
    full = registry.get_metric("pr50k3")
    assert (full.name, full.num_images, full.minibatch_per_gpu) == ("pr50k3", 50000, 8)
