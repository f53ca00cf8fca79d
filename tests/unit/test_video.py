"""Latent-walk videos: the path passes exactly through the seeds' images, interpolates smoothly in
Z and W, and comes out as an H.264 MP4 with the right frames."""
import imageio.v2 as imageio
import numpy as np
import pytest

from stylegan_tf import generation, legacy, video

from conftest import FIXTURES_DIR, run_script, shared_fixture

NETWORK = shared_fixture(FIXTURES_DIR / "original-stylegan" / "rgb32" / "network.pkl")
LUMA_TOLERANCE = 8  # measured 3.8-4.8 levels of luma


@pytest.fixture(scope="module")
def gen():
    return generation.ImageGenerator(legacy.load_networks(NETWORK)[2])


@pytest.mark.parametrize("space", ["z", "w"])
def test_walk_passes_through_the_seeds(gen, space):
    dlatents = video.walk_dlatents(gen, [3, 9, 4], frames_per_seed=5, space=space, truncation_psi=0.7,
                                   truncation_cutoff=8)
    assert dlatents.shape == (11, gen.Gs.num_layers, gen.Gs.dlatent_size)
    keys = gen.dlatents(generation.latents_from_seeds([3, 9, 4], gen.Gs.latent_size), None, 0.7, 8)
    np.testing.assert_allclose(dlatents[::5], keys, rtol=1e-5, atol=1e-5)
    steps = np.linalg.norm(np.diff(dlatents, axis=0).reshape(10, -1), axis=1)
    assert steps.max() < 0.6 * np.linalg.norm((keys[1] - keys[0]).ravel())  # small steps, no jumps
    if space == "w":  # linear in W: the midpoint of a segment is the mean of its keys
        np.testing.assert_allclose(video.walk_dlatents(gen, [3, 9], 2, "w", 0.7, 8)[1], keys[:2].mean(0),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        video.walk_dlatents(gen, [3], 5)


def test_video_file(gen, tmp_path):
    dlatents = video.walk_dlatents(gen, [0, 1], frames_per_seed=4, space="z")
    frames = gen.synthesize(dlatents)
    path = video.write_video(tmp_path / "walk.mp4", frames, fps=10, quality=10)
    reader = imageio.get_reader(str(path))
    assert reader.get_meta_data()["codec"] == "h264" and reader.get_meta_data()["fps"] == 10
    decoded = np.stack([frame for frame in reader.iter_data()])
    assert decoded.shape == frames.shape
    # H.264 stores colour at half resolution (4:2:0), which these 32x32 random-network frames with
    # per-pixel colour noise do not survive (mean RGB error 19-21 levels); brightness does.
    def luma(images):
        return images.astype(float) @ np.array([0.299, 0.587, 0.114])
    errors = np.abs(luma(decoded)[:, None] - luma(frames)[None]).mean(axis=(2, 3))
    assert errors.diagonal().max() < LUMA_TOLERANCE
    assert list(errors.argmin(axis=1)) == list(range(len(frames)))
    assert [p.name for p in tmp_path.iterdir()] == ["walk.mp4"]  # no temporary file left


@pytest.mark.slow
def test_generate_video_command(tmp_path):
    network = FIXTURES_DIR / "original-stylegan2" / "e-orig-skip-rgb32" / "network.pkl"
    result = run_script("generate.py", [f"--network={network}", "--seeds=0-2", "--frames_per_seed=3",
                                        f"--video={tmp_path / 'walk.mp4'}", "--space=w"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert imageio.get_reader(str(tmp_path / "walk.mp4")).count_frames() == 7
