"""The projector (image -> dlatents and noise) on images that fixture networks generated from known
latents, in W and W+, for a grayscale network and a StyleGAN2 one; saving and re-rendering a
projection; projector.py and generate.py --projected_w; bad targets."""
import json

import keras
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from stylegan_tf import images, legacy, networks, projection
from stylegan_tf.metrics import feature_networks

from conftest import FIXTURES_DIR, run_script, shared_fixture

SG1_FIXTURE = shared_fixture(FIXTURES_DIR / "original-stylegan" / "rgb32" / "network.pkl")
SG2_FIXTURE = shared_fixture(FIXTURES_DIR / "original-stylegan2" / "e-orig-skip-rgb32" / "network.pkl")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lpips():
    return feature_networks.lpips_vgg16()


def _generated_target(Gs, seed=5):
    latents = np.random.RandomState(seed).randn(1, Gs.latent_size).astype(np.float32)
    return Gs(latents, None, truncation_psi=0.7, randomize_noise=False).numpy()[0]


def test_schedules_and_noise_regularizer():
    options = projection.ProjectionOptions(num_steps=1000)
    assert projection.learning_rate(0, options) == 0.0
    assert projection.learning_rate(25, options) == pytest.approx(0.05)   # ramp-up over 5 %
    assert projection.learning_rate(500, options) == pytest.approx(0.1)
    assert projection.learning_rate(875, options) == pytest.approx(0.05)  # cosine ramp-down
    assert projection.noise_strength(0, options, 2.0) == pytest.approx(0.1)
    assert projection.noise_strength(375, options, 2.0) == pytest.approx(0.025)
    assert projection.noise_strength(750, options, 2.0) == 0.0
    # A map equal to its one-pixel shifts (constant ones) has autocorrelation 1 at every scale:
    # 16x16 and 8x8, two directions each.
    assert float(projection.noise_regularization([tf.ones([1, 16, 16, 1])])) == pytest.approx(4.0)
    checker = np.indices([8, 8]).sum(0) % 2 * 2.0 - 1.0  # -1 with each neighbour
    assert float(projection.noise_regularization([tf.constant(checker.reshape(1, 8, 8, 1), tf.float32)])) == \
        pytest.approx(2.0)


@pytest.mark.parametrize("space, ceiling", [("w", 0.1), ("w+", 0.05)])
def test_projection_recovers_a_generated_image(space, ceiling, lpips):
    # 200 steps measured on this fixture: W 0.343 -> 0.054 (6.3x), W+ 0.334 -> 0.021 (16x).
    _, _, Gs = legacy.load_networks(SG1_FIXTURE)
    noise_before = [buffer.numpy() for buffer in Gs.synthesis.noise_buffers]
    target = _generated_target(Gs)
    result = projection.project(Gs, target, num_steps=200, space=space, seed=1, lpips=lpips)
    assert result.dlatents.shape == (1, Gs.num_layers, Gs.dlatent_size)
    if space == "w":  # one vector broadcast to every layer
        np.testing.assert_array_equal(result.dlatents, np.repeat(result.dlatents[:, :1], Gs.num_layers, axis=1))
    assert result.distances.shape == (200,)
    assert result.distances[0] >= 5 * result.final_distance
    assert result.final_distance < ceiling
    # The user's network keeps its noise; the projection's noise maps are normalised.
    for before, buffer in zip(noise_before, Gs.synthesis.noise_buffers):
        np.testing.assert_array_equal(before, buffer.numpy())
    for value in result.noise:
        assert abs(float(value.mean())) < 1e-4 and float(value.std()) == pytest.approx(1.0, abs=1e-3)


def test_saved_projection_re_renders_and_generate_py(tmp_path, lpips):
    _, _, Gs = legacy.load_networks(SG1_FIXTURE)
    target = _generated_target(Gs, seed=8)
    result = projection.project(Gs, target, num_steps=20, space="w+", seed=2, lpips=lpips)
    projection.save_projection(tmp_path / "projected_w.npz", result)
    dlatents, noise = projection.load_projection(tmp_path / "projected_w.npz")
    np.testing.assert_array_equal(dlatents, result.dlatents)
    np.testing.assert_allclose(projection.render(Gs, dlatents, noise), result.image, atol=1e-5)
    command = run_script("generate.py", [f"--network={SG1_FIXTURE}", f"--projected_w={tmp_path / 'projected_w.npz'}",
                                         f"--outdir={tmp_path / 'out'}"], cwd=tmp_path)
    assert command.returncode == 0, command.stderr[-2000:]
    with PIL.Image.open(tmp_path / "out" / "projected.png") as image:
        rendered = np.asarray(image)
    assert np.abs(rendered.astype(int) - images.to_uint8(result.image)[0].astype(int)).max() <= 1
    with pytest.raises(ValueError, match="do not fit this network"):
        projection.render(Gs, dlatents[:, :3], noise)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable projection file"):
        projection.load_projection(tmp_path / "bad.npz")


def test_grayscale_network(lpips):
    keras.utils.set_random_seed(4)
    Gs = networks.Generator(resolution=32, num_channels=1, fmap_base=128, fmap_max=32, latent_size=32,
                            dlatent_size=32, mapping_layers=2, name="Gs")
    target = _generated_target(Gs)
    assert target.shape == (32, 32, 1)
    result = projection.project(Gs, target, num_steps=100, space="w+", seed=1, lpips=lpips)
    assert result.image.shape == (1, 32, 32, 1)
    assert result.distances[0] >= 5 * result.final_distance  # measured 6-16x on such networks


def test_stylegan2_network(lpips):
    # Random StyleGAN2 networks make textures that LPIPS fits slowly: measured on this fixture,
    # W+ 0.278 -> 0.083 (3.3x) in 100 steps, 3.8x in 200, 4.5x in 600.
    _, _, Gs = legacy.load_networks(SG2_FIXTURE)
    result = projection.project(Gs, _generated_target(Gs), num_steps=100, space="w+", seed=1, lpips=lpips)
    assert result.distances[0] >= 2.5 * result.final_distance


def test_projector_command_and_bad_targets(tmp_path):
    _, _, Gs = legacy.load_networks(SG1_FIXTURE)
    wide = images.to_uint8(np.concatenate([_generated_target(Gs)] * 2, axis=1)[np.newaxis])[0]  # 32x64
    PIL.Image.fromarray(wide).save(tmp_path / "wide.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = run_script("projector.py", [f"--network={SG1_FIXTURE}", f"--target={tmp_path / 'wide.png'}",
                                         "--num_steps=10", "--save_video", "--initial_noise_factor=0",
                                         "--initial_learning_rate=0.05", f"--outdir={tmp_path / 'out'}"],
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "centre-cropped from 64x32 to 32x32" in result.stdout
    folder = tmp_path / "out" / "wide"
    assert sorted(p.name for p in folder.iterdir()) == ["proj.mp4", "proj.png", "projected_w.npz", "target.png"]
    import imageio.v2 as imageio
    reader = imageio.get_reader(str(folder / "proj.mp4"))
    assert reader.count_frames() == 10 and reader.get_meta_data()["size"] == (64, 32)  # target | step
    record = json.loads((tmp_path / "out" / "projections.jsonl").read_text().splitlines()[0])
    assert record["target"] == "wide" and record["num_steps"] == 10 and 0 < record["lpips"] < 1
    assert f"LPIPS {record['lpips_initial']:.4f} -> {record['lpips']:.4f}" in result.stdout
    with np.load(folder / "projected_w.npz") as saved:
        assert saved["dlatents"].shape == (1, Gs.num_layers, Gs.dlatent_size)
        assert len([name for name in saved.files if name.startswith("noise")]) == len(Gs.synthesis.noise_buffers)
    result = run_script("projector.py", [f"--network={SG1_FIXTURE}", f"--target={tmp_path / 'broken.png'}",
                                         f"--outdir={tmp_path / 'out2'}"], cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Error: {tmp_path / 'broken.png'}: cannot read the target image" in result.stderr


def test_known_latents_are_recovered_in_pixels_at_64px(lpips):
    """A 64x64 target that one W vector makes (every layer truncated) is recovered in pixels within
    200 steps without the w-noise, which the release sizes for 1000 steps (benchmarks/README.md,
    projecting known latents: pixel MSE 0.09 of the W-average image's, LPIPS 0.555 -> 0.036)."""
    keras.utils.set_random_seed(4)
    Gs = networks.Generator(resolution=64, fmap_base=1024, fmap_max=512, name="Gs")
    average, _ = projection.w_statistics(Gs)
    Gs.dlatent_avg.assign(average[0, 0])
    latents = np.random.RandomState(7).randn(1, Gs.latent_size).astype(np.float32)
    true = Gs.compute_dlatents(latents, None, truncation_psi=0.7, truncation_cutoff=Gs.num_layers).numpy()
    target = Gs.synthesis(true, randomize_noise=False).numpy()[0]
    result = projection.project(Gs, target, num_steps=200, seed=1, lpips=lpips,
                                options=projection.ProjectionOptions(initial_noise_factor=0.0))
    average_image = projection.render(Gs, np.tile(average, [1, Gs.num_layers, 1]), result.noise)[0]
    relative_mse = np.mean(np.square(result.image[0] - target)) / np.mean(np.square(average_image - target))
    print(f"pixel MSE {relative_mse:.3f} of the average image's; LPIPS {result.distances[0]:.3f} -> "
          f"{result.final_distance:.3f}")
    assert relative_mse < 0.2 and result.distances[0] >= 10 * result.final_distance
