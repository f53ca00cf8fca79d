"""The paper's figures and the style-mixing grid, drawn with an `ImageGenerator` (`generate_figures.py`).

Every figure takes seeds, truncation and the noise mode as the original's `generate_figures.py` did and
returns a PIL canvas; `draw_figure(kind, gen)` draws one by name (`FIGURE_FILES`).
"""
import dataclasses

import numpy as np
import PIL.Image

from stylegan_tf import cli, generation
from stylegan_tf import images as image_utils


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


MAX_CELL_WIDTH = 4096  # pixels; a grid of 100,000-pixel cells would need terabytes


def cell_scale(cell_width, native_width):
    """Scale factor that makes a native cell `cell_width` pixels wide (None = 1)."""
    if cell_width is None:
        return 1
    if not 1 <= cell_width <= MAX_CELL_WIDTH:
        raise ValueError(f"the cell width (--size) must be 1 to {MAX_CELL_WIDTH} pixels "
                         f"(figures.MAX_CELL_WIDTH), got {cell_width}.")
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
        latents = generation.latents_from_seeds(seeds, latent_size)
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
    generation.check_noise_mode(noise_mode)
    count = sum(layout.rows * 2**lod for lod in layout.lods)
    rng = np.random.RandomState(layout.seed)
    latents = rng.randn(count, gen.Gs.latent_size).astype(np.float32)
    dlatents = gen.dlatents(latents, None, truncation_psi, truncation_cutoff)
    noise_fn = None
    if noise_mode == "random":
        noise_fn = lambda index: generation.draw_noise(gen.Gs.synthesis, rng)  # noqa: E731  (in order)
    images = iter(gen.synthesize(dlatents, noise_fn, desc="uncurated", noise_mode=noise_mode))

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
    ranges = [style if isinstance(style, range) else cli.parse_layer_range(style, num_layers)
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
        samples = gen.synthesize(dlatents, lambda index: generation.draw_noise(gen.Gs.synthesis, rng),
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
        split = generation.split_noise_layers(num_layers)
        noise_ranges = [range(num_layers), range(0), range(split, num_layers), range(split)]
    flips = [index for index in flips if index < len(seeds)]
    latents = generation.latents_from_seeds(seeds, gen.Gs.latent_size)
    dlatents = gen.dlatents(latents, None, truncation_psi=1)
    variants = []
    stored = [np.asarray(buffer) for buffer in gen.Gs.synthesis.noise_buffers]
    for layers in noise_ranges:
        images = gen.synthesize(dlatents, noise=[value if index in layers else np.zeros_like(value)
                                                 for index, value in enumerate(stored)])
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
    latents = generation.latents_from_seeds(seeds, gen.Gs.latent_size)
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
