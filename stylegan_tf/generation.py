"""Using a trained generator: seeds to reproducible images (`ImageGenerator`), as the original's
`generate_figures.py` and `pretrained_example.py` draw them; the figures are in `figures`.

Latents follow the original: `np.random.RandomState(seed).randn(1, latent_size)` per seed (the
uncurated figures draw all their latents from one `RandomState(seed)`, as the original did).

Noise. The original `Gs.run` draws fresh noise on every call (`randomize_noise=True`), so its images
are not reproducible. Three modes replace it here (`names.NOISE_MODES`):
  * "const": the noise buffers stored in the network (`noise_mode='const'`), shared by all
    images, as the original's style-mixing and truncation figures.
  * "random": noise drawn per image from NumPy, continuing the `RandomState` that produced the
    latent: after `randn(1, latent_size)` come `randn(1, H, W, 1)` for each noise input, lowest
    resolution first (the same values in the original's [1, 1, H, W] layout), passed to the
    synthesis as its `noise` input, one image at a time.
  * "none": no noise.
Each way a seed gives the same image on every run and in any batch. Different devices (CPU vs
GPU) agree to float rounding (at most 1 step in rare uint8 pixels), not bit for bit.

Example:
    gen = ImageGenerator(Gs)
    images = generate_images(gen, seeds=[0, 1, 2], truncation_psi=0.7)   # uint8 [3, H, W, C]
"""
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf import images as image_utils
from stylegan_tf import names
from stylegan_tf import xla as xla_lib

NOISE_MODES = names.NOISE_MODES


def use_reproducible_arithmetic():
    """Full float32 on GPUs (no TF32) and deterministic kernels, so that a seed's image repeats
    run after run on a GPU and stays within float rounding of the CPU's. Global TensorFlow
    settings: the CLIs call this once at start-up."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    tf.config.experimental.enable_op_determinism()


def truncation_defaults(Gs, truncation_psi=None, truncation_cutoff=None):
    """(psi, cutoff) to use: the given values, else the network's own defaults (StyleGAN's G_style
    0.7 on 8 layers, StyleGAN2's G_main 0.5 on every layer)."""
    psi = Gs.style_config["truncation_psi"] if truncation_psi is None else truncation_psi
    cutoff = Gs.style_config["truncation_cutoff"] if truncation_cutoff is None else truncation_cutoff
    if cutoff is None and psi is not None:
        cutoff = Gs.num_layers  # StyleGAN2's None: every layer (StyleGAN's G_style needs a number)
    return psi, cutoff


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
        xla: compile the synthesis with XLA: 'auto' (on GPUs only, `stylegan_tf.xla`), 'on', 'off'.
            (The op forms are the network's own, `Runtime.impl`: load it with
            `runtime=Runtime(impl=xla.inference_impl(xla))` for the fastest.)
    """

    def __init__(self, Gs, batch_size=8, progress=False, xla="auto"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.Gs = Gs
        self.batch_size = int(batch_size)
        self.progress = progress
        synthesis = Gs.synthesis
        dlatents_spec = tf.TensorSpec([None, Gs.num_layers, Gs.dlatent_size], tf.float32)
        noise_specs = [tf.TensorSpec([None, *buffer.shape[1:]], tf.float32) for buffer in synthesis.noise_buffers]
        jit_compile = xla_lib.use_xla(xla)
        self._synthesis = {mode: tf.function(lambda dlatents, mode=mode: synthesis(dlatents, noise_mode=mode),
                                             input_signature=[dlatents_spec], jit_compile=jit_compile)
                           for mode in ("const", "none")}
        self._synthesis_with_noise = tf.function(lambda dlatents, noise: synthesis(dlatents, noise=noise),
                                                 input_signature=[dlatents_spec, noise_specs], jit_compile=jit_compile)

    @property
    def image_size(self):
        """(width, height) of the network's images."""
        return self.Gs.resolution, self.Gs.resolution

    def dlatents(self, latents, labels=None, truncation_psi=None, truncation_cutoff=None):
        """Mapping (+ truncation as `Gs(...)`: psi None or 1 = off) -> float32 [N, layers, D].

        Raises ValueError for a non-finite psi, or when the W vectors come out non-finite (a
        network with NaN weights or dlatent_avg), instead of rendering blank images."""
        if truncation_psi is not None and not np.isfinite(truncation_psi):
            raise ValueError(f"truncation_psi must be a finite number, got {truncation_psi}.")
        latents = np.asarray(latents, np.float32)
        outputs = []
        for start in range(0, len(latents), max(self.batch_size, 64)):
            stop = start + max(self.batch_size, 64)
            batch_labels = None if labels is None else np.asarray(labels, np.float32)[start:stop]
            outputs.append(np.asarray(self.Gs.compute_dlatents(
                latents[start:stop], batch_labels, truncation_psi=truncation_psi,
                truncation_cutoff=truncation_cutoff)))
        dlatents = np.concatenate(outputs)
        if not np.all(np.isfinite(dlatents)):
            raise ValueError("the network maps these latents to non-finite W vectors (NaN or inf in "
                             "its mapping weights or dlatent_avg); its images would be blank.")
        return dlatents

    def synthesize(self, dlatents, noise_fn=None, desc=None, noise_mode="const", noise=None):
        """dlatents [N, layers, D] -> uint8 images [N, H, W, C].

        Args:
            dlatents: W per layer.
            noise_fn: None = batched, noise by `noise_mode` or `noise`; else `noise_fn(i)` returns
                the noise maps (see `draw_noise`) of image i, called in order i = 0, 1, ...
            desc: progress-bar label (shown only with one, when `progress` is on).
            noise_mode: 'const' (the stored buffers) or 'none', for all images ('random' needs a
                `noise_fn`).
            noise: one [1, H, W, 1] map per noise layer, shared by all images (overrides the mode).
        """
        dlatents = np.asarray(dlatents, np.float32)
        count = len(dlatents)
        if noise_fn is None:
            if noise is not None:
                noise = [np.asarray(value, np.float32) for value in noise]
                batch = lambda part: self._synthesis_with_noise(part, noise)  # noqa: E731
            else:
                mode = names.check_choice(noise_mode, ("const", "none"), "noise_mode without noise_fn")
                batch = self._synthesis[mode]
            starts = range(0, count, self.batch_size)
            return np.concatenate([
                image_utils.to_uint8(_finite(batch(dlatents[start:start + self.batch_size])))
                for start in tqdm(starts, desc=desc, unit="batch", leave=False,
                                  disable=not (self.progress and desc))])
        return np.concatenate([
            image_utils.to_uint8(_finite(self._synthesis_with_noise(dlatents[index:index + 1], noise_fn(index))))
            for index in tqdm(range(count), desc=desc, unit="img", leave=False, disable=not (self.progress and desc))])


def _finite(images):
    images = np.asarray(images)
    if not np.all(np.isfinite(images)):
        raise ValueError("the synthesis network produced non-finite pixels (NaN or inf in its "
                         "weights); refusing to write blank images.")
    return images


def check_noise_mode(noise_mode):
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise_mode!r}.")


def iterate_images(gen, seeds, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const",
                   labels=None, chunk_size=64):
    """Yields (seeds, uint8 images [n, H, W, C]) chunk by chunk, so that any number of seeds
    fits in memory. Arguments as `generate_images`."""
    check_noise_mode(noise_mode)
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
        yield chunk, gen.synthesize(dlatents, noise_fn, noise_mode=noise_mode)


def generate_images(gen, seeds, truncation_psi=0.7, truncation_cutoff=8, noise_mode="const",
                    labels=None):
    """One image per seed (the original `Gs.run` convention, with reproducible noise).

    Args:
        gen: ImageGenerator.
        seeds: ints in [0, 2**32 - 1].
        truncation_psi, truncation_cutoff: as `Gs(...)` (psi 1 or None = no truncation; the
            cutoff counts layers, 8 = coarse and middle styles).
        noise_mode: 'const', 'random' or 'none' (module docstring).
        labels: [len(seeds), label_size] for conditional networks, else None.

    Returns:
        uint8 [len(seeds), H, W, C].
    """
    return np.concatenate([images for _, images in iterate_images(
        gen, seeds, truncation_psi, truncation_cutoff, noise_mode, labels)])
