"""Image conversion, seed-based generation, style mixing, the paper's figures and the CLIs, on the
32x32 network pickle made by the original code."""

import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from stylegan_tf import cli, figures, generation, images, legacy, xla
from stylegan_tf.networks.runtime import Runtime

from conftest import FIXTURES_DIR, REPO_ROOT, shared_fixture

NETWORK = shared_fixture(FIXTURES_DIR / "original-stylegan" / "rgb32" / "network.pkl")


@pytest.fixture(scope="module")
def Gs():
    # The op forms the scripts use on this machine (--impl=auto), so that their images are comparable.
    return legacy.load_networks(NETWORK, Runtime(impl=xla.inference_impl("auto")))[2]


@pytest.fixture(scope="module")
def gen(Gs):
    return generation.ImageGenerator(Gs, batch_size=4)


def eager_uint8(Gs, latents, **kwargs):
    return images.to_uint8(Gs(latents, None, randomize_noise=False, **kwargs))


def assert_close_uint8(ours, reference):
    """Graph vs eager execution may round a rare pixel differently: at most 1 step, in < 1%."""
    difference = np.abs(ours.astype(np.int32) - reference.astype(np.int32))
    assert difference.max() <= 1 and np.mean(difference > 0) < 0.01, (difference.max(),
                                                                       np.mean(difference > 0))


# ---------------------------------------------------------------------------------------------
# images.py

def test_to_uint8_is_the_original_conversion():
    # x * 127.5 + 128, clamp, truncate: -1 -> 0.5 -> 0, 0 -> 128, 1 -> 255.5 -> 255, and exact
    # half steps round up.
    values = np.array([-3.0, -1.0, -1.0 + 1 / 127.5, 0.0, 0.5, 1.0, 2.0, np.nan], np.float32)
    np.testing.assert_array_equal(images.to_uint8(values), [0, 0, 1, 128, 191, 255, 255, 0])
    assert images.to_uint8([0.25], drange=(0, 1))[0] == 64   # 0.25 * 255 + 0.5 = 64.25
    random = np.random.RandomState(0).uniform(-1.2, 1.2, size=(2, 8, 8, 3)).astype(np.float32)
    ours = images.to_uint8(random)
    assert ours.dtype == np.uint8 and ours.shape == random.shape
    np.testing.assert_array_equal(ours, images.to_uint8_tensor(random).numpy())
    np.testing.assert_array_equal(
        ours, tf.saturate_cast(random * 127.5 + 128.0, tf.uint8).numpy())  # the original's ops


def test_image_grid_layout_and_atomic_png(tmp_path):
    batch = np.arange(5 * 2 * 3 * 3, dtype=np.uint8).reshape(5, 2, 3, 3)
    grid = images.image_grid(batch)  # 5 images -> 3 columns x 2 rows, last cell empty
    assert grid.shape == (4, 9, 3)
    np.testing.assert_array_equal(grid[2:4, 3:6], batch[4])
    np.testing.assert_array_equal(grid[2:4, 6:9], 0)
    assert images.image_grid(batch, grid_size=(5, 1)).shape == (2, 15, 3)
    with pytest.raises(ValueError, match="cannot hold"):
        images.image_grid(batch, grid_size=(2, 2))
    path = images.save_png(tmp_path / "sub" / "grid.png", grid)
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(path)), grid)
    images.save_png(path, grid[:, :, :1])  # replaces the file, grayscale
    assert PIL.Image.open(path).mode == "L"
    assert sorted(p.name for p in path.parent.iterdir()) == ["grid.png"]  # no temp files left
    with pytest.raises(ValueError, match="uint8"):
        images.save_png(tmp_path / "x.png", grid.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Parsing.

def test_parse_seeds_and_style_ranges():
    assert cli.parse_seeds("3,0-2, 7") == [3, 0, 1, 2, 7]
    for bad in ("", "a", "5-1", "-3", "1-", str(2**32)):
        with pytest.raises(ValueError):
            cli.parse_seeds(bad)
    assert cli.parse_layer_range("coarse", 18) == range(0, 4)
    assert cli.parse_layer_range("middle", 18) == range(4, 8)
    assert cli.parse_layer_range("fine", 18) == range(8, 18)
    assert cli.parse_layer_range("fine", 8) == range(8, 8)   # a 32x32 net has no fine
    assert cli.parse_layer_range("2-5", 8) == range(2, 6)
    assert cli.parse_layer_range("7", 8) == range(7, 8)
    for bad in ("8", "3-1", "huge"):
        with pytest.raises(ValueError):
            cli.parse_layer_range(bad, 8)


def test_make_labels():
    assert cli.make_labels(0, None, 3) is None
    np.testing.assert_array_equal(cli.make_labels(4, "2", 2), [[0, 0, 1, 0]] * 2)
    np.testing.assert_array_equal(cli.make_labels(2, "0.5,1", 1), [[0.5, 1]])
    for size, text, message in [(0, "1", "unconditional"), (3, None, "conditional"),
                                (3, "3", "class index"), (3, "1,2", "3 values"),
                                (3, "x", "numbers")]:
        with pytest.raises(ValueError, match=message):
            cli.make_labels(size, text, 1)


# ---------------------------------------------------------------------------------------------
# Seeds -> images.

def test_seeds_are_reproducible_and_follow_gs(Gs, gen):
    first = generation.generate_images(gen, [3, 7, 11], truncation_psi=0.7, truncation_cutoff=8)
    again = generation.generate_images(gen, [7], truncation_psi=0.7, truncation_cutoff=8)
    np.testing.assert_array_equal(first[1], again[0])  # same seed, other batch: same image
    assert first.shape == (3, 32, 32, 3) and first.dtype == np.uint8
    assert not np.array_equal(first[0], first[1])
    latents = np.concatenate([np.random.RandomState(s).randn(1, 64) for s in (3, 7, 11)])
    np.testing.assert_array_equal(generation.latents_from_seeds([3, 7, 11], 64),
                                  latents.astype(np.float32))
    assert_close_uint8(first, eager_uint8(Gs, latents, truncation_psi=0.7, truncation_cutoff=8))
    untruncated = generation.generate_images(gen, [3], truncation_psi=1)
    assert_close_uint8(untruncated, eager_uint8(Gs, latents[:1], truncation_psi=None))
    assert not np.array_equal(untruncated[0], first[0])


def test_random_noise_is_drawn_from_the_seed(Gs, gen):
    stored = [np.asarray(buffer) for buffer in Gs.synthesis.noise_buffers]
    random = generation.generate_images(gen, [5, 9], noise_mode="random")
    np.testing.assert_array_equal(random[1],
                                  generation.generate_images(gen, [9], noise_mode="random")[0])
    for buffer, value in zip(Gs.synthesis.noise_buffers, stored):  # buffers are restored
        np.testing.assert_array_equal(np.asarray(buffer), value)
    const = generation.generate_images(gen, [5, 9], noise_mode="const")
    assert np.mean(random != const) > 0.1  # the noise is visible in these random-weight nets

    # The documented convention: RandomState(seed) gives the latent, then each noise input.
    rng = np.random.RandomState(9)
    latent = rng.randn(1, Gs.latent_size)
    clone = Gs.clone("reference")
    for buffer in clone.synthesis.noise_buffers:
        buffer.assign(rng.randn(*buffer.shape).astype(np.float32))
    assert_close_uint8(random[1:], eager_uint8(clone, latent, truncation_psi=0.7))
    with pytest.raises(ValueError, match="noise"):
        generation.generate_images(gen, [1], noise_mode="fresh")


# ---------------------------------------------------------------------------------------------
# Style mixing.

def test_style_mixing_cells_are_synthesis_of_mixed_dlatents(Gs, gen):
    rows, cols = [10, 20], [30, 40, 50]
    styles = [range(0, 4), range(4, 8)]
    canvas, cells, mixed = figures.style_mixing_grid(gen, rows, cols, styles)
    src = Gs.mapping(generation.latents_from_seeds(cols, 64)).numpy()
    dst = Gs.mapping(generation.latents_from_seeds(rows, 64)).numpy()
    for row, layers in enumerate(styles):
        for col in range(len(cols)):
            expected = dst[row].copy()
            expected[list(layers)] = src[col][list(layers)]
            np.testing.assert_array_equal(mixed[row, col], expected)
            reference = images.to_uint8(Gs.synthesis(expected[np.newaxis],
                                                     randomize_noise=False))[0]
            assert_close_uint8(cells[row, col], reference)
            np.testing.assert_array_equal(cells[row, col], gen.synthesize(expected[None])[0])
    # Layout: sources along the top, destinations down the left, white corner.
    grid = np.asarray(canvas)
    assert grid.shape == (32 * 3, 32 * 4, 3)
    np.testing.assert_array_equal(grid[:32, :32], 255)
    np.testing.assert_array_equal(grid[:32, 64:96], gen.synthesize(src[1:2])[0])
    np.testing.assert_array_equal(grid[32:64, :32], gen.synthesize(dst[:1])[0])
    np.testing.assert_array_equal(grid[64:96, 96:128], cells[1, 2])
    # Mixing every layer reproduces the source; mixing none the destination.
    _, all_layers, _ = figures.style_mixing_grid(gen, rows[:1], cols[:1], range(0, 8))
    np.testing.assert_array_equal(all_layers[0, 0], gen.synthesize(src[:1])[0])
    _, no_layers, _ = figures.style_mixing_grid(gen, rows[:1], cols[:1], range(0))
    np.testing.assert_array_equal(no_layers[0, 0], gen.synthesize(dst[:1])[0])


# ---------------------------------------------------------------------------------------------
# Figures.

def test_figures_follow_the_original_layouts(Gs, gen):
    uncurated = figures.uncurated_figure(gen, figures.UncuratedLayout())
    assert uncurated.size == (32 + 16 + 8 + 8 + 4 + 4, 32 * 3)
    np.testing.assert_array_equal(np.asarray(uncurated),
                                  np.asarray(figures.uncurated_figure(gen)))  # reproducible
    cars = figures.UNCURATED_LAYOUTS["cars-512x384"]
    assert figures.uncurated_figure(gen, cars).size == (72, 24 * 4)  # rows 4-27 of 32

    mixing = figures.style_mixing_figure(gen, cell_width=16)
    assert mixing.size == (16 * 6, 16 * 7)

    detail = figures.noise_detail_figure(gen, seeds=(1157,), num_samples=6)
    assert detail.size == (96, 32)
    spread = np.asarray(detail)[:, 64:96]
    assert np.all(spread[..., 0] == spread[..., 1]) and spread.std() > 0  # grayscale std map

    components = np.asarray(figures.noise_components_figure(gen))
    assert components.shape == (64, 64, 3)
    latents = generation.latents_from_seeds([1967, 1555], 64)
    with_noise = gen.synthesize(gen.dlatents(latents, truncation_psi=1))
    np.testing.assert_array_equal(components[:32, :16], with_noise[0][:, :16])  # all noise
    np.testing.assert_array_equal(components[:32, 32:48], with_noise[1][:, ::-1][:, :16])  # flip

    truncation = np.asarray(figures.truncation_trick_figure(gen))
    assert truncation.shape == (64, 6 * 32, 3)
    np.testing.assert_array_equal(truncation[:32, 96:128], truncation[32:, 96:128])  # psi 0: avg
    assert not np.array_equal(truncation[:32, :32], truncation[32:, :32])

    for kind in figures.FIGURE_FILES:
        assert figures.draw_figure(kind, gen, cell_width=8, noise_samples=5).width > 0
    with pytest.raises(ValueError, match="unknown figure"):
        figures.draw_figure("figure99", gen)


# ---------------------------------------------------------------------------------------------
# CLIs (each one process: ~5 s of TensorFlow start-up).

def run_cli(script, *args, **env_vars):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", STYLEGAN_OFFLINE="1", **env_vars)
    return subprocess.run([sys.executable, str(REPO_ROOT / script), *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_generate_cli(tmp_path, gen):
    result = run_cli("generate.py", f"--network={NETWORK}", "--seeds=4-6,2", "--grid",
                     "--noise=random", "--truncation_psi=0.5", f"--outdir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "grid.png", "seed0002.png", "seed0004.png", "seed0005.png", "seed0006.png"]
    expected = generation.generate_images(gen, [4, 5, 6, 2], truncation_psi=0.5,
                                          noise_mode="random")
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "seed0005.png")),
                                  expected[1])
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "grid.png")),
                                  images.image_grid(expected))


@pytest.mark.slow
def test_cli_user_mistakes_are_one_line_errors(tmp_path):
    # A registered network, offline, not in the cache: say where to put it.
    result = run_cli("generate.py", "--network=ffhq-1024", f"--outdir={tmp_path}",
                     STYLEGAN_CACHE=str(tmp_path / "cache"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = tmp_path / "cache" / "urls" / "karras2019stylegan-ffhq-1024x1024.pkl"
    assert "Error: " in result.stderr and f"save it as {expected}" in result.stderr
    assert not (tmp_path / "seed0000.png").exists()


@pytest.mark.slow
def test_style_mixing_and_figure_clis(tmp_path, gen):
    result = run_cli("style_mixing.py", f"--network={NETWORK}", "--rows=1,2", "--cols=3",
                     "--styles=0-3", "--cells", "--size=16", f"--outdir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert PIL.Image.open(tmp_path / "style-mixing.png").size == (32, 48)
    _, cells, _ = figures.style_mixing_grid(gen, [1, 2], [3], range(0, 4))
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "row2-col3.png")),
                                  cells[1, 0])

    result = run_cli("generate_figures.py", f"--network={NETWORK}",
                     "--figures=truncation-trick,noise-detail", "--noise_samples=5",
                     f"--outdir={tmp_path}")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(
        np.asarray(PIL.Image.open(tmp_path / "figure08-truncation-trick.png")),
        np.asarray(figures.truncation_trick_figure(gen)))
    assert PIL.Image.open(tmp_path / "figure04-noise-detail.png").size == (96, 64)


@pytest.mark.slow
def test_pretrained_example_cli(tmp_path, gen):
    result = run_cli("pretrained_example.py", f"--network={NETWORK}", f"--outdir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "Total trainable" in result.stdout and "G_synthesis/noise0" in result.stdout
    # Seed 5, psi 0.7, noise from the seed: the same image generate.py makes.
    np.testing.assert_array_equal(
        np.asarray(PIL.Image.open(tmp_path / "example.png")),
        generation.generate_images(gen, [5], truncation_psi=0.7, noise_mode="random")[0])
