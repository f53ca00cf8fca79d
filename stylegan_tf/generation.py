"""Using a trained generator: seeds to reproducible images (`ImageGenerator`), as the original's
`generate_figures.py` and `pretrained_example.py` draw them; the figures are in `figures`.

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
"""
import contextlib

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf import images as image_utils
from stylegan_tf import xla as xla_lib

NOISE_MODES = ("const", "random")


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
    """

    def __init__(self, Gs, batch_size=8, progress=False, xla="auto"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.Gs = Gs
        self.batch_size = int(batch_size)
        self.progress = progress
        synthesis = Gs.synthesis

        def synthesize(dlatents):
            with xla_lib.elementwise_clusters(xla):  # read while tracing
                return synthesis(dlatents, randomize_noise=False)

        self._synthesis = tf.function(
            synthesize,
            input_signature=[tf.TensorSpec([None, Gs.num_layers, Gs.dlatent_size], tf.float32)],
            jit_compile=xla_lib.use_xla(xla))

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
                image_utils.to_uint8(_finite(self._synthesis(dlatents[start:start + self.batch_size])))
                for start in tqdm(starts, desc=desc, unit="batch", leave=False,
                                  disable=not (self.progress and desc))])
        outputs = []
        with self.noise_restored() as buffers:
            for index in tqdm(range(count), desc=desc, unit="img", leave=False,
                              disable=not (self.progress and desc)):
                for buffer, value in zip(buffers, noise_fn(index)):
                    buffer.assign(value)
                outputs.append(image_utils.to_uint8(_finite(self._synthesis(dlatents[index:index + 1]))))
        return np.concatenate(outputs)


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
