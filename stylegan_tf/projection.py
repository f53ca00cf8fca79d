"""Projecting images into a generator's latent space: the algorithm of the StyleGAN2 release's
`projector.py`, for every generator this project loads (StyleGAN's `G_style` and StyleGAN2's
`G_main`: anything with `mapping` and a `synthesis` that takes `noise=`).

What is optimised: a dlatent started at the W average (of 10,000 mapped samples; their RMS distance
to it scales the noise added to w, 0.05 of it, decaying quadratically to 0 over the first 75 % of
the steps) and one noise map per noise layer (drawn from N(0, 1) at the start, renormalised to mean
0, std 1 after each step), passed to the synthesis as its `noise` input (the network is not changed).
`space='w'` optimises one vector broadcast to all layers (the release's), `space='w+'` one per layer.
Loss: LPIPS (VGG16) between the generated and the target image, both
box-downsampled to 256x256 when larger (grayscale tiled to 3 channels), plus 1e5 times the noise
regulariser (squared autocorrelation of each noise map with its one-pixel shifts, at every scale
down to 8x8). Adam (TF1 defaults 0.9, 0.999, 1e-8), learning rate 0.1 with a 5 % linear ramp-up
and a 25 % cosine ramp-down.

Example:
    result = project(Gs, target, num_steps=1000, space="w")   # target float NHWC in [-1, 1]
    result.dlatents   # [1, num_layers, dlatent_size]; result.noise: list of arrays
"""
import dataclasses
import math

import numpy as np
import PIL.Image
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf import npz
from stylegan_tf.metrics import evaluation, feature_networks
from stylegan_tf.training import optimizer

SPACES = ("w", "w+")
LPIPS_SIZE = 256


@dataclasses.dataclass
class ProjectionOptions:
    """The release's hyper-parameters (projector.py's `Projector.__init__`)."""
    num_steps: int = 1000
    dlatent_avg_samples: int = 10000
    initial_learning_rate: float = 0.1
    initial_noise_factor: float = 0.05
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5


@dataclasses.dataclass
class ProjectionResult:
    """dlatents [1, num_layers, dlatent_size], noise (one array per buffer, NHWC), the LPIPS
    distance at each step [num_steps] (before its update, with the noise on w), the final image
    (float NHWC in [-1, 1]) and its LPIPS distance to the target."""
    dlatents: np.ndarray
    noise: list
    distances: np.ndarray
    image: np.ndarray
    final_distance: float


def learning_rate(step, options):
    """The release's learning-rate schedule at `step` of `options.num_steps`."""
    t = step / options.num_steps
    ramp = min(1.0, (1.0 - t) / options.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return options.initial_learning_rate * ramp * min(1.0, t / options.lr_rampup_length)


def noise_strength(step, options, dlatent_std):
    """The std of the noise added to w at `step`."""
    t = step / options.num_steps
    return dlatent_std * options.initial_noise_factor * max(0.0, 1.0 - t / options.noise_ramp_length) ** 2


def w_statistics(Gs, num_samples=10000, seed=123):
    """(W average [1, 1, D], RMS distance of the samples to it, a scalar) from mapped N(0, I) latents."""
    latents = np.random.RandomState(seed).randn(num_samples, Gs.latent_size).astype(np.float32)
    labels = evaluation.zero_labels(Gs, num_samples)
    dlatents = np.concatenate([Gs.mapping(latents[i:i + 1000], None if labels is None else labels[i:i + 1000])
                               .numpy()[:, :1] for i in range(0, num_samples, 1000)])
    average = dlatents.mean(axis=0, keepdims=True)
    return average, float(np.sqrt(np.sum(np.square(dlatents - average)) / num_samples))


def noise_regularization(noise_maps):
    """Sum over maps and scales of the squared mean products with the one-pixel shifts along
    width and height; each map [1, H, W, 1] is box-halved until 8x8."""
    total = 0.0
    for value in noise_maps:
        size = int(value.shape[1])
        while True:
            total += tf.square(tf.reduce_mean(value * tf.roll(value, shift=1, axis=2))) + \
                tf.square(tf.reduce_mean(value * tf.roll(value, shift=1, axis=1)))
            if size <= 8:
                break
            value = tf.reduce_mean(tf.reshape(value, [1, size // 2, 2, size // 2, 2, 1]), axis=[2, 4])
            size //= 2
    return total


def _for_lpips(images):
    images = evaluation.box_downsample(images, LPIPS_SIZE)
    return tf.tile(images, [1, 1, 1, 3]) if images.shape[-1] == 1 else images


def prepare_target(image, Gs):
    """One target image (float [H, W, C] or [1, H, W, C] in [-1, 1], at the network's size and
    channel count) as the batch of one the projector compares with."""
    image = np.asarray(image, np.float32)
    image = image[np.newaxis] if image.ndim == 3 else image
    expected = (1, Gs.resolution, Gs.resolution, Gs.num_channels)
    if image.shape != expected:
        raise ValueError(f"the target has shape {image.shape}, the network makes {expected}")
    return image


def project(Gs, target, num_steps=None, space="w", seed=0, options=None, lpips=None, progress=False,
            on_image=None):
    """Finds the dlatents and noise of `Gs` whose image is closest to `target` (see the module
    docstring). Gs's noise buffers are left as they were.

    Args:
        Gs: a generator of either family.
        target: float [H, W, C] (or [1, H, W, C]) in [-1, 1] at the network's resolution.
        num_steps: optimisation steps (default `options.num_steps`, 1000).
        space: 'w' (one vector for all layers) or 'w+' (one per layer).
        seed: seed of the initial noise maps and of the noise added to w.
        options: ProjectionOptions.
        lpips: the LPIPS distance (default `feature_networks.lpips_vgg16()`).
        progress: a tqdm bar with the current distance.
        on_image: called with each step's image (float [1, H, W, C] NumPy, before its update), e.g.
            to write a video of the optimisation.

    Returns:
        ProjectionResult.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    options = dataclasses.replace(options or ProjectionOptions(),
                                  **({"num_steps": int(num_steps)} if num_steps is not None else {}))
    if options.num_steps < 1:
        raise ValueError(f"num_steps must be at least 1, got {options.num_steps}")
    lpips = lpips or feature_networks.lpips_vgg16()
    target_features = tf.constant(_for_lpips(tf.constant(prepare_target(target, Gs))))
    average, dlatent_std = w_statistics(Gs, options.dlatent_avg_samples)
    num_layers = Gs.num_layers
    start = average if space == "w" else np.tile(average, [1, num_layers, 1])
    dlatent_var = tf.Variable(start, dtype=tf.float32, name="projected_dlatents")
    rng = tf.random.Generator.from_seed(seed)
    # The noise maps optimised, inputs of the synthesis (Gs's stored buffers are not touched).
    noise_vars = [tf.Variable(rng.normal(buffer.shape), name=f"projected_noise{index}")
                  for index, buffer in enumerate(Gs.synthesis.noise_buffers)]
    adam = optimizer.Adam([dlatent_var] + noise_vars, ["dlatents"] + [f"noise{i}" for i in range(len(noise_vars))],
                          beta1=0.9, beta2=0.999, epsilon=1e-8, name="Projector")
    synthesis = Gs.synthesis

    @tf.function
    def step(strength, rate):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([dlatent_var] + noise_vars)
            dlatents = dlatent_var + rng.normal(tf.shape(dlatent_var)) * strength
            dlatents = tf.tile(dlatents, [1, num_layers, 1]) if space == "w" else dlatents
            images = synthesis(dlatents, noise=noise_vars)
            distance = lpips(_for_lpips(images), target_features)[0]
            loss = distance + noise_regularization(noise_vars) * options.regularize_noise_weight
        grads = tape.gradient(loss, [dlatent_var] + noise_vars)
        adam.apply(grads, rate)
        for noise in noise_vars:  # renormalise each noise map
            centred = noise - tf.reduce_mean(noise)
            noise.assign(centred / tf.sqrt(tf.reduce_mean(tf.square(centred))))
        return distance, images

    distances = []
    with tqdm(total=options.num_steps, desc="project", unit="step", disable=not progress,
              leave=False) as bar:
        for index in range(options.num_steps):
            distance, images = step(tf.constant(noise_strength(index, options, dlatent_std), tf.float32),
                                    tf.constant(learning_rate(index, options), tf.float32))
            distance = float(distance)
            distances.append(distance)
            if on_image is not None:
                on_image(images.numpy())
            bar.set_postfix(dist=f"{distance:.4f}", refresh=False)
            bar.update(1)
    dlatents = dlatent_var.numpy()
    dlatents = np.tile(dlatents, [1, num_layers, 1]) if space == "w" else dlatents
    noise = [value.numpy() for value in noise_vars]
    image = synthesis(tf.constant(dlatents), noise=noise)
    final = float(lpips(_for_lpips(image), target_features)[0])
    image = image.numpy()
    return ProjectionResult(dlatents=dlatents, noise=noise, distances=np.asarray(distances, np.float32),
                            image=image, final_distance=final)


def render(Gs, dlatents, noise):
    """The image of saved dlatents [1, L, D] and noise maps (float NHWC in [-1, 1])."""
    buffers = list(Gs.synthesis.noise_buffers)
    dlatents = np.asarray(dlatents, np.float32)
    expected = (Gs.num_layers, Gs.dlatent_size)
    if dlatents.ndim != 3 or dlatents.shape[1:] != expected:
        raise ValueError(f"dlatents of shape {dlatents.shape} do not fit this network "
                         f"([N, {expected[0]}, {expected[1]}])")
    if len(noise) != len(buffers) or any(tuple(np.shape(n)) != tuple(b.shape) for n, b in zip(noise, buffers)):
        raise ValueError(f"the saved noise ({len(noise)} maps) does not fit this network's "
                         f"{len(buffers)} noise buffers")
    return Gs.synthesis(tf.constant(dlatents), noise=[np.asarray(value, np.float32) for value in noise]).numpy()


def save_projection(path, result):
    """`projected_w.npz`: dlatents [1, L, D] and noise0..noiseK (NHWC), written atomically."""
    arrays = {"dlatents": result.dlatents}
    arrays.update({f"noise{index}": value for index, value in enumerate(result.noise)})
    evaluation.save_npz_atomic(path, **arrays)


def load_projection(path):
    """(dlatents, noise list) of a `projected_w.npz`; ValueError naming the file if unreadable or
    not finite (NaN dlatents would render a blank image)."""
    data = npz.load(path, "projection file")
    try:
        count = sum(1 for name in data if name.startswith("noise"))
        dlatents, noise = data["dlatents"], [data[f"noise{index}"] for index in range(count)]
    except KeyError as error:
        raise ValueError(f"{path}: not a readable projection file (no {error})") from None
    for name, value in [("dlatents", dlatents)] + [(f"noise{i}", value) for i, value in enumerate(noise)]:
        if value.dtype.kind not in "fiu" or not np.all(np.isfinite(value)):
            raise ValueError(f"{path}: {name} holds non-finite or non-numeric values")
    return dlatents, noise


def unique_target_names(targets):
    """[(name, image)] with distinct names, the output folders: a repeated file stem (a/face.png,
    b/face.png) gets -2, -3, ... so that no projection overwrites another's."""
    seen, named = {}, []
    for name, image in targets:
        count = seen[name] = seen.get(name, 0) + 1
        while count > 1 and f"{name}-{count}" in seen:
            count += 1
        unique = name if count == 1 else f"{name}-{count}"
        seen.setdefault(unique, 1)
        named.append((unique, image))
    return named


def load_target_image(path, resolution, num_channels):
    """A target image file as float [resolution, resolution, C] in [-1, 1]: converted to RGB or
    grayscale as the network, centre-cropped to a square and resized with Lanczos. Returns
    (image, note): the note says what was done to it (None when it fitted as it was).

    Raises:
        ValueError: a file that cannot be read as an image, naming it.
    """
    try:
        with PIL.Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
                # 16-bit grayscale: PIL's convert() clips it to 255 (an almost white image); scale instead.
                image = PIL.Image.fromarray(np.round(np.asarray(image, np.float64) / 257.0).clip(0, 255)
                                            .astype(np.uint8))
            image = image.convert("RGB" if num_channels == 3 else "L")
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as error:
        raise ValueError(f"{path}: cannot read the target image ({error})") from None
    width, height = image.size
    notes = []
    if width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        notes.append(f"centre-cropped from {width}x{height} to {side}x{side}")
    if image.size != (resolution, resolution):
        notes.append(f"resized from {image.size[0]}x{image.size[1]} to {resolution}x{resolution}")
        image = image.resize((resolution, resolution), PIL.Image.LANCZOS)
    values = np.asarray(image, np.float32).reshape(resolution, resolution, num_channels)
    return values / 127.5 - 1.0, ("; ".join(notes) or None)
