"""The scripts on networks pickled by stylegan2-ada-pytorch's own code (tests/fixtures/original-ada-pytorch):
generation, projection, export and metrics, and the refusal of a module source nobody vouched for."""

import json

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from stylegan_tf import cli, generation, images, legacy

from conftest import REPO_FIXTURES_DIR, run_script

pytestmark = pytest.mark.slow
FIXTURES = REPO_FIXTURES_DIR / "original-ada-pytorch"


def _network(name):
    """(pickle path, --trusted_source flags, (G, D, Gs)) of a fixture (its placeholder sources trusted)."""
    directory = FIXTURES / name
    trusted = list(json.loads((directory / "meta.json").read_text())["placeholder_sha256"])
    path = directory / "network.pkl"
    flags = [f"--trusted_source={digest}" for digest in trusted]
    return path, flags, legacy.load_networks(path, trusted_sources=trusted)


def test_generate_on_a_conditional_pytorch_network(tmp_path):
    path, trust, (_, _, Gs) = _network("adapt-nhwc-orig-rgb32")
    result = run_script("generate.py", [f"--network={path}", *trust, "--seeds=3,5", "--labels=1",
                                        "--truncation_psi=0.5", "--truncation_cutoff=4", f"--outdir={tmp_path}"],
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = generation.generate_images(generation.ImageGenerator(Gs), [3, 5], truncation_psi=0.5,
                                          truncation_cutoff=4, labels=cli.make_labels(Gs.label_size, "1", 2))
    for index, seed in enumerate((3, 5)):
        np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / f"seed{seed:04d}.png")), expected[index])


def test_an_untrusted_module_source_is_a_one_line_error(tmp_path):
    path, _, _ = _network("adapt-auto-rgb32")
    result = run_script("generate.py", [f"--network={path}", "--seeds=0", f"--outdir={tmp_path}"], cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "G (Generator) was pickled with a module source that is not one of the releases'" in result.stderr
    assert "Pass --trusted_source=" in result.stderr and not list(tmp_path.glob("*.png"))
    result = run_script("generate.py", [f"--network={path}", "--trusted_source=xyz", f"--outdir={tmp_path}"],
                        cwd=tmp_path)
    assert result.returncode == 1 and "--trusted_source='xyz' is not a SHA-256" in result.stderr


def test_projector_export_and_metrics_on_a_pytorch_network(tmp_path):
    path, trust, (_, _, Gs) = _network("adapt-auto-rgb32")
    target = Gs(np.random.RandomState(5).randn(1, Gs.latent_size).astype(np.float32), None, truncation_psi=0.7,
                randomize_noise=False).numpy()
    PIL.Image.fromarray(images.to_uint8(target)[0]).save(tmp_path / "target.png")
    result = run_script("projector.py", [f"--network={path}", *trust, f"--target={tmp_path / 'target.png'}",
                                         "--num_steps=10", f"--outdir={tmp_path / 'proj'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "proj" / "projections.jsonl").read_text().splitlines()[0])
    assert record["num_steps"] == 10 and record["lpips"] < record["lpips_initial"]

    result = run_script("export.py", [f"--network={path}", *trust, f"--outdir={tmp_path / 'export'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    served = tf.saved_model.load(str(tmp_path / "export" / "Gs_savedmodel"))
    latents = np.random.RandomState(1).randn(2, Gs.latent_size).astype(np.float32)
    out = served.signatures["serving_default"](latents=latents, truncation_psi=np.float32([1, 1]))["images"]
    assert out.shape == (2, 32, 32, 3) and out.dtype == tf.uint8

    result = run_script("run_metrics.py", [f"--network={path}", *trust, "--metrics=ppl2_wend", "--num_images=16",
                                           f"--outdir={tmp_path / 'metrics'}", "--noprogress"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = (tmp_path / "metrics" / "metric-ppl2_wend-n16.jsonl").read_text().splitlines()
    value = json.loads(lines[0])["results"]["ppl2_wend-n16"]
    assert np.isfinite(value) and value > 0


def _stylegan3(name):
    directory = REPO_FIXTURES_DIR / "original-stylegan3-pytorch" / name
    trusted = list(json.loads((directory / "meta.json").read_text())["placeholder_sha256"])
    path = directory / "network.pkl"
    flags = [f"--trusted_source={digest}" for digest in trusted]
    return path, flags, legacy.load_networks(path, trusted_sources=trusted)


def test_scripts_on_a_stylegan3_network(tmp_path):
    """StyleGAN3-R (conditional): images and a latent walk, a projection, a TFLite file that computes Gs,
    and a metric."""
    import warnings

    from stylegan_tf import export
    path, trust, (_, _, Gs) = _stylegan3("sg3-r-cond-rgb64")
    common = [f"--network={path}", *trust, "--seeds=1-2", "--labels=3", "--truncation_psi=0.7"]
    for extra in ([f"--outdir={tmp_path / 'gen'}"], [f"--video={tmp_path / 'walk.mp4'}", "--frames_per_seed=2"]):
        result = run_script("generate.py", common + extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    expected = generation.generate_images(generation.ImageGenerator(Gs), [1, 2], truncation_psi=0.7,
                                          truncation_cutoff=None, labels=cli.make_labels(Gs.label_size, "3", 2))
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "gen" / "seed0002.png")), expected[1])
    assert (tmp_path / "walk.mp4").stat().st_size > 1000

    target = tmp_path / "gen" / "seed0001.png"
    result = run_script("projector.py", [f"--network={path}", *trust, f"--target={target}", "--num_steps=8",
                                         f"--outdir={tmp_path / 'proj'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "proj" / "projections.jsonl").read_text().splitlines()[0])
    assert record["lpips"] < record["lpips_initial"]

    result = run_script("export.py", [f"--network={path}", *trust, "--format=tflite", "--batch_size=2",
                                      f"--outdir={tmp_path / 'export'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    latents = np.random.RandomState(3).randn(2, Gs.latent_size).astype(np.float32)
    labels = cli.make_labels(Gs.label_size, "1", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice about LiteRT
        out = export.run_tflite(tmp_path / "export" / "Gs.tflite", latents, [0.6, 1.0], labels)
    reference = np.concatenate([Gs(latents[i:i + 1], labels[i:i + 1], truncation_psi=psi, truncation_cutoff=8).numpy()
                                for i, psi in enumerate((0.6, 1.0))])  # export.py's default cutoff: 8 layers
    assert np.abs(out["images_float"] - reference).max() <= 1e-4

    result = run_script("run_metrics.py", [f"--network={path}", *trust, "--metrics=ppl2_wend", "--num_images=8",
                                           f"--outdir={tmp_path / 'metrics'}", "--noprogress"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ppl2_wend-n8" in (tmp_path / "metrics" / "metric-ppl2_wend-n8.jsonl").read_text()
