"""Perceptual path length (Karras et al. 2019, section 4.1), as the original's `ppl_*` metrics.

Per per-GPU batch of B pairs: 2B normal latents (pair members are consecutive rows), an
interpolation point t ~ U[0, 1) (`full`) or t = 0 (`end`); in Z, slerp of the normalised latents
at t and t + epsilon, then mapping; in W, mapping first, then lerp of the dlatents. All noise
buffers are re-drawn from N(0, 1) for the batch and the pair is synthesized with
`randomize_noise=False`, so both members share the noise. The face region is cropped
(rows 3c:7c, cols 2c:6c with c = H // 8; not in StyleGAN2's `ppl2_wend`), box-downsampled to 256
when larger, and the LPIPS
distance between members, divided by epsilon^2, is one sample. The reported value is the mean of
the samples between the 1st ("lower") and 99th ("higher") percentiles.
"""
import math

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf import ops, xla
from stylegan_tf.metrics import evaluation, feature_networks, reporting


def normalize(vectors):
    """Rows scaled to unit length."""
    return vectors / tf.sqrt(tf.reduce_sum(tf.square(vectors), axis=-1, keepdims=True))


def slerp(a, b, t):
    """Spherical interpolation between the directions of a and b (rows), at fractions t."""
    a, b = normalize(a), normalize(b)
    cos_angle = tf.reduce_sum(a * b, axis=-1, keepdims=True)
    angle = t * tf.math.acos(cos_angle)
    orthogonal = normalize(b - cos_angle * a)
    return normalize(a * tf.math.cos(angle) + orthogonal * tf.math.sin(angle))


def interleave(first, second):
    """[e0_0, e1_0, e0_1, e1_1, ...] from two equally shaped batches."""
    stacked = tf.stack([first, second], axis=1)
    return tf.reshape(stacked, tf.concat([[-1], tf.shape(first)[1:]], axis=0))


def face_crop(images):
    """The original's face region of NHWC images: rows 3c:7c, cols 2c:6c, c = H // 8."""
    c = images.shape[1] // 8
    return images[:, 3 * c:7 * c, 2 * c:6 * c, :]


def filtered_mean(distances):
    """Mean of the samples within [1st percentile (lower), 99th percentile (higher)]."""
    distances = np.asarray(distances)
    low = np.percentile(distances, 1, method="lower")
    high = np.percentile(distances, 99, method="higher")
    return float(np.mean(distances[(low <= distances) & (distances <= high)]))


class PPL:
    """The `ppl_{z,w}{full,end}` metrics.

    Args:
        name: metric name, e.g. "ppl_wend".
        num_samples: number of path samples (rounded up to whole batches, as the original).
        epsilon: step between the two members of a pair.
        space: "z" (slerp of latents) or "w" (lerp of dlatents).
        sampling: "full" (t ~ U[0, 1)) or "end" (t = 0).
        minibatch_per_gpu: pairs per GPU batch (one noise draw each).
        crop: compare the face region only (StyleGAN's metrics and StyleGAN2's `ppl_*`); False
            compares whole images (StyleGAN2's `ppl2_wend`, which it uses for LSUN).
    """

    def __init__(self, name, num_samples, epsilon, space, sampling, minibatch_per_gpu=16, crop=True):
        if space not in ("z", "w"):
            raise ValueError(f"space must be 'z' or 'w', got {space!r}")
        if sampling not in ("full", "end"):
            raise ValueError(f"sampling must be 'full' or 'end', got {sampling!r}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        self.name = name
        self.num_samples = int(num_samples)
        self.epsilon = float(epsilon)
        self.space = space
        self.sampling = sampling
        self.minibatch_per_gpu = int(minibatch_per_gpu)
        self.crop = bool(crop)

    def _distance_function(self, Gs, lpips):
        epsilon = self.epsilon

        @tf.function(reduce_retracing=True)
        def distances(latents, t, noise):  # latents [2B, latent_size], t [B], noise: one map per noise layer
            labels = evaluation.zero_labels(Gs, tf.shape(latents)[0])
            if self.space == "w":
                dlatents = Gs.mapping(latents, labels)                       # [2B, layers, D]
                start, end = dlatents[0::2], dlatents[1::2]
                t = t[:, tf.newaxis, tf.newaxis]
                dlatents = interleave(ops.lerp(start, end, t), ops.lerp(start, end, t + epsilon))
            else:
                start, end = latents[0::2], latents[1::2]
                t = t[:, tf.newaxis]
                dlatents = Gs.mapping(interleave(slerp(start, end, t), slerp(start, end, t + epsilon)), labels)
            images = Gs.synthesis(dlatents, noise=noise)                     # [2B, H, W, C]
            images = evaluation.box_downsample(face_crop(images) if self.crop else images, 256)
            # The original scales to [0, 255] for its LPIPS pickle, which maps back to [-1, 1]
            # first thing; ours takes [-1, 1] directly.
            return lpips(images[0::2], images[1::2]) * (1.0 / epsilon ** 2)

        return distances

    def evaluate(self, Gs, options):
        """Returns [MetricResult] with the filtered mean path length of Gs."""
        lpips = feature_networks.lpips_vgg16(jit_compile=xla.use_xla(options.xla))
        rng = tf.random.Generator.from_seed(options.seed)
        distances_of = self._distance_function(Gs, lpips)
        noise_shapes = [buffer.shape for buffer in Gs.synthesis.noise_buffers]
        num_batches = math.ceil(self.num_samples / (self.minibatch_per_gpu * options.num_gpus))
        samples = []
        with tqdm(total=num_batches * options.num_gpus * self.minibatch_per_gpu, desc=self.name,
                  unit="pair", disable=not options.progress, leave=False) as bar:
            for _ in range(num_batches * options.num_gpus):  # one original per-GPU batch each
                latents = rng.normal([2 * self.minibatch_per_gpu, Gs.latent_size])
                maximum = 1.0 if self.sampling == "full" else 0.0
                t = rng.uniform([self.minibatch_per_gpu], 0.0, maximum) if maximum else \
                    tf.zeros([self.minibatch_per_gpu])
                noise = [rng.normal(shape) for shape in noise_shapes]  # one draw per batch, as the original
                samples.append(distances_of(latents, t, noise).numpy())
                bar.update(self.minibatch_per_gpu)
        return [reporting.MetricResult(self.name, "", filtered_mean(np.concatenate(samples)))]
