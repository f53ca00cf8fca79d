"""Keras and SavedModel exports reload and reproduce the source network exactly."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import export, images, legacy, networks
from stylegan_tf.ops import fast

from conftest import FIXTURES_DIR, REPO_ROOT, shared_fixture, xla_compiled_calls

NETWORK = shared_fixture(FIXTURES_DIR / "original-stylegan" / "rgb32" / "network.pkl")
LATENTS = np.random.RandomState(1).randn(4, 64).astype(np.float32)
PSIS = np.array([0.7, 1.0, 0.5, -0.3], np.float32)


@pytest.fixture(scope="module")
def Gs():
    return legacy.load_networks(NETWORK)[2]


def test_keras_file_round_trips_exactly(Gs, tmp_path):
    path = export.export_keras(Gs, tmp_path / "Gs.keras")
    reloaded = keras.models.load_model(path)
    assert isinstance(reloaded, networks.Generator) and reloaded.name == Gs.name
    for kwargs in (dict(truncation_psi=0.7), dict(truncation_psi=None)):
        np.testing.assert_array_equal(
            reloaded(LATENTS, None, randomize_noise=False, **kwargs).numpy(),
            Gs(LATENTS, None, randomize_noise=False, **kwargs).numpy())
    for (name, a), b in zip(legacy.original_variables(Gs).items(),
                            legacy.original_variables(reloaded).values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    export.export_keras(Gs, path)  # replacing an earlier export
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Gs.keras"]
    with pytest.raises(ValueError, match=".keras"):
        export.export_keras(Gs, tmp_path / "Gs.h5")


def test_saved_model_serves_uint8_images_exactly(Gs, tmp_path):
    path = export.export_saved_model(Gs, tmp_path / "served")
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    inputs = served.structured_input_signature[1]
    assert sorted(inputs) == ["latents", "truncation_psi"]
    assert inputs["latents"].shape.as_list() == [None, 64]
    out = served(latents=tf.constant(LATENTS), truncation_psi=tf.constant(PSIS))["images"].numpy()
    assert out.dtype == np.uint8 and out.shape == (4, 32, 32, 3)

    # Bit-exact against the same function run from the in-memory network.
    function, signature = export.serving_function(Gs)
    in_memory = tf.function(function, input_signature=signature)
    np.testing.assert_array_equal(out, in_memory(LATENTS, PSIS)["images"].numpy())
    # And the images Gs makes with each psi (eager execution: up to 1 step in rare pixels).
    for index, psi in enumerate(PSIS):
        reference = images.to_uint8(Gs(LATENTS[index:index + 1], None, truncation_psi=float(psi),
                                       randomize_noise=False))
        difference = np.abs(out[index:index + 1].astype(int) - reference)
        assert difference.max() <= 1 and np.mean(difference > 0) < 0.01, psi

    export.export_saved_model(Gs, path)  # replacing an earlier export
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


@pytest.mark.parametrize("impl", ["fast", "xla"])
def test_exports_hold_plain_ops_only(Gs, impl, monkeypatch):
    # With every epilogue large enough for an XLA cluster, a 'fast' Gs holds clusters; an export of
    # it none (TF Serving, TFLite and ONNX get plain ops: the reference forms).
    monkeypatch.setattr(fast, "FUSED_EPILOGUE_MIN_PIXELS", 0)
    built = Gs.clone(impl=impl)
    usual = tf.function(lambda w: built.synthesis(w, noise_mode="const", lod_range=(0, 0))).get_concrete_function(
        tf.TensorSpec([None, Gs.num_layers, Gs.dlatent_size], tf.float32))  # no tf.cond: one graph
    expected = Gs.num_layers * (2 * fast.STATISTICS_ROW_BANDS + 1) if impl == "fast" else 0
    assert xla_compiled_calls(usual.graph) == expected
    function, signature = export.serving_function(built)
    graph = tf.function(function).get_concrete_function(*signature).graph
    assert xla_compiled_calls(graph) == 0
    assert "DepthwiseConv2dNative" in {op.type for op in graph.get_operations()}  # the reference blur


def test_saved_model_of_a_conditional_network(tmp_path):
    Gs = networks.Generator(resolution=8, num_channels=3, label_size=3, fmap_base=32, fmap_max=8,
                            latent_size=8, dlatent_size=8, mapping_fmaps=8, mapping_layers=2)
    for variable in Gs.synthesis.noise_buffers + [Gs.dlatent_avg]:
        variable.assign(np.random.RandomState(0).randn(*variable.shape))
    path = export.export_saved_model(Gs, tmp_path / "conditional", truncation_cutoff=None)
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert sorted(served.structured_input_signature[1]) == ["labels", "latents",
                                                           "truncation_psi"]
    latents = np.random.RandomState(2).randn(3, 8).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)
    out = served(latents=latents, labels=labels, truncation_psi=tf.fill([3], 0.5))["images"]
    reference = images.to_uint8(Gs(latents, labels, truncation_psi=0.5, truncation_cutoff=99,
                                   randomize_noise=False))
    assert np.abs(out.numpy().astype(int) - reference).max() <= 1


@pytest.mark.slow
def test_export_cli(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", STYLEGAN_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "export.py"), f"--network={NETWORK}",
         f"--outdir={tmp_path}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "Gs.keras").is_file()
    assert (tmp_path / "Gs_savedmodel" / "saved_model.pb").is_file()
    served = tf.saved_model.load(str(tmp_path / "Gs_savedmodel"))
    out = served.signatures["serving_default"](latents=LATENTS[:1],
                                               truncation_psi=PSIS[:1])["images"]
    assert out.shape == (1, 32, 32, 3)


@pytest.mark.parametrize("fixture", ["original-stylegan/rgb32", "original-stylegan2/f-rgb64",
                                     "original-stylegan2/b-revised-rgb32"])
def test_tflite_matches_the_keras_network(fixture, tmp_path):
    """Builtin-ops TFLite, run in tf.lite.Interpreter: float images within 1e-4 of the Keras
    network's (measured 1.5e-5, 1.7e-5, 5e-6), uint8 images within one level (rounding at .5)."""
    import warnings
    _, _, net = legacy.load_networks(FIXTURES_DIR / fixture / "network.pkl")
    path = export.export_tflite(net, tmp_path / "Gs.tflite", batch_size=4, truncation_cutoff=8)
    latents = np.random.RandomState(1).randn(4, net.latent_size).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice about LiteRT
        out = export.run_tflite(path, latents, PSIS)
    expected = export._truncated_images(net, tf.constant(latents), None, tf.constant(PSIS), 8, "const", 0.0).numpy()
    assert out["images_float"].shape == expected.shape
    assert np.abs(out["images_float"] - expected).max() <= 1e-4
    served, _ = export.serving_function(net, truncation_cutoff=8)
    uint8 = served(tf.constant(latents), tf.constant(PSIS))["images"].numpy()
    assert out["images"].dtype == np.uint8
    assert np.abs(out["images"].astype(int) - uint8.astype(int)).max() <= 1
    assert np.mean(out["images"] == uint8) > 0.999


def test_tflite_export_cli(tmp_path):
    from conftest import run_script
    result = run_script("export.py", [f"--network={NETWORK}", "--format=tflite", "--batch_size=2",
                                      f"--outdir={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Wrote {tmp_path / 'Gs.tflite'}" in result.stdout
    out = export.run_tflite(tmp_path / "Gs.tflite", LATENTS[:2], PSIS[:2])
    assert out["images"].shape == (2, 32, 32, 3)


@pytest.mark.parametrize("fixture", ["original-stylegan/rgb32", "original-stylegan2/f-rgb64"])
def test_onnx_matches_the_saved_model(fixture, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="needs requirements-export.txt")
    pytest.importorskip("tf2onnx", reason="needs requirements-export.txt")
    _, _, net = legacy.load_networks(FIXTURES_DIR / fixture / "network.pkl")
    path = export.export_onnx(net, tmp_path / "Gs.onnx")
    session = onnxruntime.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["latents", "truncation_psi"]
    latents = np.random.RandomState(2).randn(4, net.latent_size).astype(np.float32)
    out = session.run(["images"], {"latents": latents, "truncation_psi": PSIS})[0]
    served, _ = export.serving_function(net, truncation_cutoff=8)
    expected = served(tf.constant(latents), tf.constant(PSIS))["images"].numpy()
    assert out.dtype == np.uint8 and out.shape == expected.shape
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1  # measured: 0
    # any batch size
    assert session.run(["images"], {"latents": latents[:1], "truncation_psi": PSIS[:1]})[0].shape[0] == 1


def test_onnx_without_tf2onnx_is_a_clear_error(Gs, tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tf2onnx(name, *args, **kwargs):
        if name == "tf2onnx":
            raise ImportError("no tf2onnx")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_tf2onnx)
    with pytest.raises(ValueError, match="pip install -r requirements-export.txt"):
        export.export_onnx(Gs, tmp_path / "Gs.onnx")
    assert not (tmp_path / "Gs.onnx").exists()
