"""Using a trained generator: seeds to images, style mixing, and the paper's figures (SPEC §9.4).

Latents follow the original: `np.random.RandomState(seed).randn(1, latent_size)` per seed (the
uncurated figures draw all their latents from one `RandomState(seed)`, as the original did).

Noise. The original `Gs.run` draws fresh noise on every call (`randomize_noise=True`), so its images
are not reproducible. Two modes replace it here:
  * "const": the noise buffers stored in the network (`randomize_noise=False`), shared by all
    images, as the original's style-mixing and truncation figures.
  * "random": noise drawn per image from NumPy, continuing the `RandomState` that produced the
    latent: after `randn(1, latent_size)` come `randn(1, H, W, 1)` for each noise input, lowest
    resolution first (the same values in the original's [1, 1, H, W] layout). The buffers are set
    to these values and the synthesis runs with `randomize_noise=False`, one image at a time.
Either way a seed gives the same image on every run and in any batch. Different devices (CPU vs
GPU) agree to float rounding (at most 1 step in rare uint8 pixels), not bit for bit.

Example:
    gen = ImageGenerator(Gs)
    images = generate_images(gen, seeds=[0, 1, 2], truncation_psi=0.7)   # uint8 [3, H, W, C]
    canvas = truncation_trick_figure(gen, cell_width=256)                 # PIL image
"""

import contextlib
import dataclasses
import re

import numpy as np
import PIL.Image
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf import images as image_utils

NOISE_MODES = ("const", "random")
_MAX_SEED = 2**32 - 1  # RandomState's limit

# The paper's style groups by resolution (Figure 3): coarse 4^2-8^2, middle 16^2-32^2, fine 64^2+.
STYLE_GROUPS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}


# ---------------------------------------------------------------------------------------------
# Parsing user input.

def parse_seeds(text):
    """'0-3,10,12-13' -> [0, 1, 2, 3, 10, 12, 13] (ranges inclusive, order kept)."""
    seeds = []
    for part in str(text).replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"seeds must look like '0-63' or '1,5,7-9', got {text!r}.")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"seed range {part!r} runs backwards.")
        if last > _MAX_SEED:
            raise ValueError(f"seeds must be at most {_MAX_SEED}, got {last}.")
        seeds.extend(range(first, last + 1))
    return seeds


def parse_layer_range(text, num_layers):
    """A style range: 'coarse' | 'middle' | 'fine' | '5' | '0-3' (inclusive) -> range of layers.

    Args:
        text: the range.
        num_layers: the network's number of style inputs (clips the named groups).
    """
    text = str(text).strip().lower()
    if text in STYLE_GROUPS:
        start, stop = STYLE_GROUPS[text]
        return range(min(start, num_layers), num_layers if stop is None else min(stop, num_layers))
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not match:
        raise ValueError(f"a style range is coarse, middle, fine, a layer 'i' or 'i-j'; got "
                         f"{text!r}.")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if not first <= last < num_layers:
        raise ValueError(f"style range {text!r} is outside layers 0-{num_layers - 1}.")
    return range(first, last + 1)


def make_labels(label_size, text, count):
    """Labels [count, label_size] for a conditional network from '--labels', or None.

    Args:
        label_size: the network's label size (0 = unconditional).
        text: a class index ('3' -> one-hot) or label_size comma-separated numbers; None/''.
        count: number of rows (every row gets the same label).
    """
    text = (text or "").strip()
    if label_size == 0:
        if text:
            raise ValueError("this network is unconditional (label_size 0); drop --labels.")
        return None
    if not text:
        raise ValueError(f"this network is conditional (label_size {label_size}); pass --labels "
                         f"as a class index 0-{label_size - 1} or {label_size} comma-separated "
                         "values.")
    values = text.split(",")
    try:
        numbers = [float(value) for value in values]
    except ValueError:
        raise ValueError(f"--labels must be numbers, got {text!r}.") from None
    if len(numbers) == 1 and label_size > 1:
        index = numbers[0]
        if index != int(index) or not 0 <= index < label_size:
            raise ValueError(f"class index must be an integer 0-{label_size - 1}, got {text!r}.")
        label = np.eye(label_size, dtype=np.float32)[int(index)]
    elif len(numbers) == label_size:
        label = np.asarray(numbers, np.float32)
    else:
        raise ValueError(f"--labels needs a class index or {label_size} values, got "
                         f"{len(numbers)}.")
    return np.tile(label[np.newaxis], [count, 1])


def use_reproducible_arithmetic():
    """Full float32 on GPUs (no TF32) and deterministic kernels, so that a seed's image repeats
    run after run on a GPU and stays within float rounding of the CPU's. Global TensorFlow
    settings: the CLIs call this once at start-up."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    tf.config.experimental.enable_op_determinism()


# ---------------------------------------------------------------------------------------------
# Latents and noise.

def latents_from_seeds(seeds, latent_size):
    """[len(seeds), latent_size] float32: row i = RandomState(seeds[i]).randn(1, latent_size)."""
    return np.concatenate([np.random.RandomState(seed).randn(1, latent_size)
                           for seed in seeds]).astype(np.float32)


def draw_noise(synthesis, rng):
    """One value per noise input of `synthesis`, drawn from `rng` in layer order: [1, H, W, 1]."""
    return [rng.randn(*buffer.shape).astype(np.float32) for buffer in synthesis.noise_buffers]


def split_noise_layers(num_layers):
    """Layers whose noise counts as 'coarse' in Figure 5: 0-7 (4^2-32^2), or half of a small net."""
    return 8 if num_layers > 8 else num_layers // 2


class ImageGenerator:
    """Runs a generator network (usually Gs) for the functions of this module.

    Args:
        Gs: a `networks.Generator`.
        batch_size: images per synthesis call when the stored noise is used (the original
            figures used 8).
        progress: show tqdm bars.
    """

    def __init__(self, Gs, batch_size=8, progress=False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.Gs = Gs
        self.batch_size = int(batch_size)
        self.progress = progress
        synthesis = Gs.synthesis
        self._synthesis = tf.function(
            lambda dlatents: synthesis(dlatents, randomize_noise=False),
            input_signature=[tf.TensorSpec([None, Gs.num_layers, Gs.dlatent_size], tf.float32)])

    @property
    def image_size(self):
        """(width, height) of the network's images."""
        return self.Gs.resolution, self.Gs.resolution

    def dlatents(self, latents, labels=None, truncation_psi=None, truncation_cutoff=None):
        """Mapping (+ truncation as `Gs(...)`: psi None or 1 = off) -> float32 [N, layers, D]."""
        latents = np.asarray(latents, np.float32)
        outputs = []
        for start in range(0, len(latents), max(self.batch_size, 64)):
            stop = start + max(self.batch_size, 64)
            batch_labels = None if labels is None else np.asarray(labels, np.float32)[start:stop]
            outputs.append(np.asarray(self.Gs.compute_dlatents(
                latents[start:stop], batch_labels, truncation_psi=truncation_psi,
                truncation_cutoff=truncation_cutoff)))
        return np.concatenate(outputs)

    @contextlib.contextmanager
    def noise_restored(self):
        """Restores the stored noise buffers on exit (they are overwritten per image)."""
        buffers = self.Gs.synthesis.noise_buffers
        saved = [np.asarray(buffer) for buffer in buffers]
        try:
            yield buffers
        finally:
            for buffer, value in zip(buffers, saved):
                buffer.assign(value)

    def synthesize(self, dlatents, noise_fn=None, desc=None):
        """dlatents [N, layers, D] -> uint8 images [N, H, W, C].

        Args:
            dlatents: W per layer.
            noise_fn: None = the stored noise buffers (batched); else `noise_fn(i)` returns the
                noise values (see `draw_noise`) for image i, called in order i = 0, 1, ...
            desc: progress-bar label (shown only with one, when `progress` is on).
        """
        dlatents = np.asarray(dlatents, np.float32)
        count = len(dlatents)
        if noise_fn is None:
            starts = range(0, count, self.batch_size)
            return np.concatenate([
                image_utils.to_uint8(self._synthesis(dlatents[start:start + self.batch_size]))
                for start in tqdm(starts, desc=desc, unit="batch", leave=False,
                                  disable=not (self.progress and desc))])
        outputs = []
        with self.noise_restored() as buffers:
            for index in tqdm(range(count), desc=desc, unit="img", leave=False,
                              disable=not (self.progress and desc)):
                for buffer, value in zip(buffers, noise_fn(index)):
                    buffer.assign(value)
                outputs.append(image_utils.to_uint8(self._synthesis(dlatents[index:index + 1])))
        return np.concatenate(outputs)


def _check_noise_mode(noise_mode):
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise_mode!r}.")


def iterate_images(gen, seeds, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const",
                   labels=None, chunk_size=64):
    """Yields (seeds, uint8 images [n, H, W, C]) chunk by chunk, so that any number of seeds
    fits in memory. Arguments as `generate_images`."""
    _check_noise_mode(noise_mode)
    seeds = list(seeds)
    if labels is not None and len(labels) != len(seeds):
        raise ValueError(f"{len(labels)} label rows for {len(seeds)} seeds.")
    for start in range(0, len(seeds), chunk_size):
        chunk = seeds[start:start + chunk_size]
        rngs = [np.random.RandomState(seed) for seed in chunk]
        latents = np.concatenate([rng.randn(1, gen.Gs.latent_size) for rng in rngs])
        chunk_labels = None if labels is None else labels[start:start + chunk_size]
        dlatents = gen.dlatents(latents, chunk_labels, truncation_psi, truncation_cutoff)
        noise_fn = None
        if noise_mode == "random":
            noise_fn = lambda index: draw_noise(gen.Gs.synthesis, rngs[index])  # noqa: E731
        yield chunk, gen.synthesize(dlatents, noise_fn)


def generate_images(gen, seeds, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const",
                    labels=None):
    """One image per seed (the original `Gs.run` convention, with reproducible noise).

    Args:
        gen: ImageGenerator.
        seeds: ints in [0, 2**32 - 1].
        truncation_psi, truncation_cutoff: as `Gs(...)` (psi 1 or None = no truncation; the
            cutoff counts layers, 8 = coarse and middle styles).
        noise_mode: 'const' or 'random' (module docstring).
        labels: [len(seeds), label_size] for conditional networks, else None.

    Returns:
        uint8 [len(seeds), H, W, C].
    """
    return np.concatenate([images for _, images in iterate_images(
        gen, seeds, truncation_psi, truncation_cutoff, noise_mode, labels)])


# ---------------------------------------------------------------------------------------------
# Canvases.

def _pil(image):
    return image_utils.to_pil(image)


def _new_canvas(size, mode="RGB"):
    return PIL.Image.new(mode, size, "white")


def _canvas_mode(gen):
    return "L" if gen.Gs.num_channels == 1 else "RGB"


def scale_canvas(canvas, scale):
    """Resizes a finished figure: Lanczos when shrinking, nearest (visible pixels) when growing."""
    if scale == 1:
        return canvas
    size = (max(1, round(canvas.width * scale)), max(1, round(canvas.height * scale)))
    resample = PIL.Image.LANCZOS if scale < 1 else PIL.Image.NEAREST
    return canvas.resize(size, resample)


def cell_scale(cell_width, native_width):
    """Scale factor that makes a native cell `cell_width` pixels wide (None = 1)."""
    if cell_width is None:
        return 1
    if cell_width < 1:
        raise ValueError(f"the cell width must be >= 1 pixel, got {cell_width}.")
    return cell_width / native_width


def style_mixing_grid(gen, row_seeds, col_seeds, row_styles, truncation_psi=None,
                      truncation_cutoff=None, labels=None):
    """Figure 3's grid: destination rows x source columns, stored noise (`randomize_noise=False`).

    Cell (r, c) is row seed r's dlatents with the layers `row_styles[r]` taken from column
    seed c. The top row shows the sources, the left column the destinations, the corner is white.

    Args:
        gen: ImageGenerator.
        row_seeds, col_seeds: destination and source seeds.
        row_styles: one range of layers per row, or a single range for every row.
        truncation_psi, truncation_cutoff: truncation applied to every dlatent before mixing
            (None = untruncated, as the paper's figure).
        labels: None, or one label row [1, label_size] used for every image.

    Returns:
        (canvas PIL image [W * (cols + 1), H * (rows + 1)], cells uint8 [rows, cols, H, W, C],
         mixed dlatents [rows, cols, layers, D]).
    """
    row_seeds, col_seeds = list(row_seeds), list(col_seeds)
    if not row_seeds or not col_seeds:
        raise ValueError("style mixing needs at least one row seed and one column seed.")
    if isinstance(row_styles, range):
        row_styles = [row_styles] * len(row_seeds)
    row_styles = list(row_styles)
    if len(row_styles) != len(row_seeds):
        raise ValueError(f"{len(row_styles)} style ranges for {len(row_seeds)} rows; give one per "
                         "row or a single one.")
    latent_size = gen.Gs.latent_size

    def dlatents_of(seeds):
        latents = latents_from_seeds(seeds, latent_size)
        seed_labels = None if labels is None else np.repeat(labels[:1], len(seeds), axis=0)
        return gen.dlatents(latents, seed_labels, truncation_psi, truncation_cutoff)

    src_dlatents, dst_dlatents = dlatents_of(col_seeds), dlatents_of(row_seeds)
    mixed = np.repeat(dst_dlatents[:, np.newaxis], len(col_seeds), axis=1)  # [rows, cols, L, D]
    for row, styles in enumerate(row_styles):
        layers = list(styles)
        mixed[row][:, layers] = src_dlatents[:, layers]

    src_images = gen.synthesize(src_dlatents, desc="sources")
    dst_images = gen.synthesize(dst_dlatents, desc="destinations")
    cells = gen.synthesize(mixed.reshape((-1,) + mixed.shape[2:]), desc="mixes")
    cells = cells.reshape(mixed.shape[:2] + cells.shape[1:])

    height, width = src_images.shape[1:3]
    canvas = _new_canvas((width * (len(col_seeds) + 1), height * (len(row_seeds) + 1)),
                         _canvas_mode(gen))
    for col, image in enumerate(src_images):
        canvas.paste(_pil(image), ((col + 1) * width, 0))
    for row, image in enumerate(dst_images):
        canvas.paste(_pil(image), (0, (row + 1) * height))
        for col, cell in enumerate(cells[row]):
            canvas.paste(_pil(cell), ((col + 1) * width, (row + 1) * height))
    return canvas, cells, mixed


# ---------------------------------------------------------------------------------------------
# The paper's figures (generate_figures.py), for any network. Every function draws the original
# layout at the network's resolution; `cell_width` rescales the finished figure so that one image
# cell is that many pixels wide.

@dataclasses.dataclass(frozen=True)
class UncuratedLayout:
    """Figures 2, 10-12: columns of images at decreasing sizes.

    Args:
        seed: one RandomState draws every latent.
        rows: images in a full-size column; a column at `lod` holds rows * 2**lod images.
        lods: one entry per column; the column's images are 2**lod times smaller.
        crop: (left, top, right, bottom) of the useful content, as fractions of the image.
    """
    seed: int = 5
    rows: int = 3
    lods: tuple = (0, 1, 2, 2, 3, 3)
    crop: tuple = (0.0, 0.0, 1.0, 1.0)


# The original figures' parameters per registered network (others use FFHQ's).
UNCURATED_LAYOUTS = {
    "ffhq-1024": UncuratedLayout(seed=5, rows=3, lods=(0, 1, 2, 2, 3, 3)),
    "bedrooms-256": UncuratedLayout(seed=0, rows=5, lods=(0, 0, 1, 1, 2, 2, 2)),
    "cars-512x384": UncuratedLayout(seed=2, rows=4, lods=(0, 1, 2, 2, 3, 3),
                                    crop=(0.0, 64 / 512, 1.0, 448 / 512)),
    "cats-256": UncuratedLayout(seed=1, rows=5, lods=(0, 0, 1, 1, 2, 2, 2)),
}


def _crop_box(crop, width, height):
    left, top, right, bottom = crop
    return (round(left * width), round(top * height), round(right * width), round(bottom * height))


def uncurated_figure(gen, layout=UncuratedLayout(), truncation_psi=0.7, truncation_cutoff=8,
                     noise_mode="random", cell_width=None):
    """Figures 2/10/11/12: sum(rows * 2**lod) images from one seed, `Gs.run` defaults
    (psi 0.7, cutoff 8, random noise), cropped and Lanczos-resized into columns.

    Args:
        gen: ImageGenerator.
        layout: UncuratedLayout.
        truncation_psi, truncation_cutoff: as `Gs(...)`.
        noise_mode: 'random' (the original drew fresh noise; here it continues the latents'
            RandomState, image by image) or 'const'.
        cell_width: width of a full-size cell in the output (default: the crop's width).
    """
    _check_noise_mode(noise_mode)
    count = sum(layout.rows * 2**lod for lod in layout.lods)
    rng = np.random.RandomState(layout.seed)
    latents = rng.randn(count, gen.Gs.latent_size).astype(np.float32)
    dlatents = gen.dlatents(latents, None, truncation_psi, truncation_cutoff)
    noise_fn = None
    if noise_mode == "random":
        noise_fn = lambda index: draw_noise(gen.Gs.synthesis, rng)  # noqa: E731  (in order)
    images = iter(gen.synthesize(dlatents, noise_fn, desc="uncurated"))

    box = _crop_box(layout.crop, *gen.image_size)
    crop_width, crop_height = box[2] - box[0], box[3] - box[1]
    widths = [crop_width // 2**lod for lod in layout.lods]
    canvas = _new_canvas((sum(widths), crop_height * layout.rows), _canvas_mode(gen))
    for col, lod in enumerate(layout.lods):
        size = (crop_width // 2**lod, crop_height // 2**lod)
        for row in range(layout.rows * 2**lod):
            image = _pil(next(images)).crop(box).resize(size, PIL.Image.LANCZOS)
            canvas.paste(image, (sum(widths[:col]), row * crop_height // 2**lod))
    return scale_canvas(canvas, cell_scale(cell_width, crop_width))


FIGURE3_SRC_SEEDS = (639, 701, 687, 615, 2268)
FIGURE3_DST_SEEDS = (888, 829, 1898, 1733, 1614, 845)
FIGURE3_ROW_STYLES = ("coarse",) * 3 + ("middle",) * 2 + ("fine",)


def style_mixing_figure(gen, src_seeds=FIGURE3_SRC_SEEDS, dst_seeds=FIGURE3_DST_SEEDS,
                        row_styles=FIGURE3_ROW_STYLES, cell_width=None):
    """Figure 3: untruncated style mixing with the stored noise; `row_styles` are names or
    ranges per destination row (coarse = layers 0-3, middle 4-7, fine 8+, clipped to the net)."""
    num_layers = gen.Gs.num_layers
    ranges = [style if isinstance(style, range) else parse_layer_range(style, num_layers)
              for style in row_styles]
    canvas, _, _ = style_mixing_grid(gen, dst_seeds, src_seeds, ranges)
    return scale_canvas(canvas, cell_scale(cell_width, gen.image_size[0]))


# Figure 4's close-up: pixels (650, 180)-(906, 436) of a 1024^2 face.
NOISE_DETAIL_CROP = (650 / 1024, 180 / 1024, 906 / 1024, 436 / 1024)


def noise_detail_figure(gen, seeds=(1157, 1012), num_samples=100, crop=NOISE_DETAIL_CROP,
                        cell_width=None):
    """Figure 4: per seed, one sample, four close-ups of other noise draws (nearest-resized),
    and the per-pixel standard deviation over `num_samples` noise draws (x4, grayscale).

    Untruncated (psi 1); sample i's noise continues the seed's RandomState after the latent.
    """
    if num_samples < 5:
        raise ValueError(f"the noise-detail figure needs at least 5 samples, got {num_samples}.")
    width, height = gen.image_size
    canvas = _new_canvas((width * 3, height * len(seeds)), _canvas_mode(gen))
    box = _crop_box(crop, width, height)
    for row, seed in enumerate(seeds):
        rng = np.random.RandomState(seed)
        latent = rng.randn(1, gen.Gs.latent_size).astype(np.float32)
        dlatents = np.repeat(gen.dlatents(latent, None, truncation_psi=1), num_samples, axis=0)
        samples = gen.synthesize(dlatents, lambda index: draw_noise(gen.Gs.synthesis, rng),
                                 desc=f"noise samples (seed {seed})")
        canvas.paste(_pil(samples[0]), (0, row * height))
        for index in range(4):
            close_up = _pil(samples[index + 1]).crop(box).resize((width // 2, height // 2),
                                                                 PIL.Image.NEAREST)
            canvas.paste(close_up, (width + (index % 2) * width // 2,
                                    row * height + (index // 2) * height // 2))
        spread = np.std(np.mean(samples, axis=3), axis=0) * 4
        spread = np.clip(spread + 0.5, 0, 255).astype(np.uint8)
        canvas.paste(PIL.Image.fromarray(spread, "L"), (width * 2, row * height))
    return scale_canvas(canvas, cell_scale(cell_width, width))


def noise_components_figure(gen, seeds=(1967, 1555), noise_ranges=None, flips=(1,),
                            cell_width=None):
    """Figure 5: per seed, halves of images made with the noise of only some layers (the others
    zeroed): top all / none, bottom fine / coarse. Untruncated, stored noise.

    Args:
        noise_ranges: four layer ranges (all, none, fine, coarse); default splits at
            `split_noise_layers` (layer 8 for FFHQ).
        flips: indices of seeds whose images are mirrored horizontally (as the original).
    """
    num_layers = len(gen.Gs.synthesis.noise_buffers)
    if num_layers == 0:
        raise ValueError("this network has no noise inputs (use_noise=False).")
    if noise_ranges is None:
        split = split_noise_layers(num_layers)
        noise_ranges = [range(num_layers), range(0), range(split, num_layers), range(split)]
    flips = [index for index in flips if index < len(seeds)]
    latents = latents_from_seeds(seeds, gen.Gs.latent_size)
    dlatents = gen.dlatents(latents, None, truncation_psi=1)
    variants = []
    with gen.noise_restored() as buffers:
        stored = [np.asarray(buffer) for buffer in buffers]
        for layers in noise_ranges:
            for index, (buffer, value) in enumerate(zip(buffers, stored)):
                buffer.assign(value if index in layers else np.zeros_like(value))
            images = gen.synthesize(dlatents)
            images[flips] = images[flips, :, ::-1]
            variants.append(images)

    width, height = gen.image_size
    half = width // 2
    canvas = _new_canvas((width * len(seeds), height * 2), _canvas_mode(gen))
    for col in range(len(seeds)):
        x = col * width
        canvas.paste(_pil(variants[0][col]).crop((0, 0, half, height)), (x, 0))
        canvas.paste(_pil(variants[1][col]).crop((half, 0, width, height)), (x + half, 0))
        canvas.paste(_pil(variants[2][col]).crop((0, 0, half, height)), (x, height))
        canvas.paste(_pil(variants[3][col]).crop((half, 0, width, height)), (x + half, height))
    return scale_canvas(canvas, cell_scale(cell_width, width))


def truncation_trick_figure(gen, seeds=(91, 388), psis=(1, 0.7, 0.5, 0, -0.5, -1),
                            cell_width=None):
    """Figure 8: rows of seeds, columns of psi; `avg + (w - avg) * psi` on every layer,
    stored noise."""
    latents = latents_from_seeds(seeds, gen.Gs.latent_size)
    dlatents = gen.dlatents(latents, None)  # untruncated
    average = np.asarray(gen.Gs.dlatent_avg, np.float32)
    psis_column = np.reshape(np.asarray(psis, np.float32), [-1, 1, 1])
    width, height = gen.image_size
    canvas = _new_canvas((width * len(psis), height * len(seeds)), _canvas_mode(gen))
    for row, dlatent in enumerate(dlatents):
        row_dlatents = (dlatent[np.newaxis] - average) * psis_column + average
        for col, image in enumerate(gen.synthesize(row_dlatents)):
            canvas.paste(_pil(image), (col * width, row * height))
    return scale_canvas(canvas, cell_scale(cell_width, width))


# File names of the paper's figures, by kind.
FIGURE_FILES = {
    "uncurated": "figure02-uncurated",
    "style-mixing": "figure03-style-mixing",
    "noise-detail": "figure04-noise-detail",
    "noise-components": "figure05-noise-components",
    "truncation-trick": "figure08-truncation-trick",
}
# The original generate_figures.py: (file name, figure kind, registered network).
ORIGINAL_FIGURES = (
    ("figure02-uncurated-ffhq.png", "uncurated", "ffhq-1024"),
    ("figure03-style-mixing.png", "style-mixing", "ffhq-1024"),
    ("figure04-noise-detail.png", "noise-detail", "ffhq-1024"),
    ("figure05-noise-components.png", "noise-components", "ffhq-1024"),
    ("figure08-truncation-trick.png", "truncation-trick", "ffhq-1024"),
    ("figure10-uncurated-bedrooms.png", "uncurated", "bedrooms-256"),
    ("figure11-uncurated-cars.png", "uncurated", "cars-512x384"),
    ("figure12-uncurated-cats.png", "uncurated", "cats-256"),
)


def draw_figure(kind, gen, network_name=None, cell_width=None, noise_samples=100):
    """One figure of `FIGURE_FILES` for any network, with the original's parameters.

    Args:
        kind: a key of FIGURE_FILES.
        gen: ImageGenerator.
        network_name: registry name, selecting its uncurated layout (else FFHQ's).
        cell_width: output width of one image cell (default: the network's resolution).
        noise_samples: noise draws for the noise-detail figure (the original used 100).
    """
    if kind == "uncurated":
        layout = UNCURATED_LAYOUTS.get(network_name, UncuratedLayout())
        return uncurated_figure(gen, layout, cell_width=cell_width)
    if kind == "style-mixing":
        return style_mixing_figure(gen, cell_width=cell_width)
    if kind == "noise-detail":
        return noise_detail_figure(gen, num_samples=noise_samples, cell_width=cell_width)
    if kind == "noise-components":
        return noise_components_figure(gen, cell_width=cell_width)
    if kind == "truncation-trick":
        return truncation_trick_figure(gen, cell_width=cell_width)
    raise ValueError(f"unknown figure {kind!r}; choose from {', '.join(FIGURE_FILES)}.")
