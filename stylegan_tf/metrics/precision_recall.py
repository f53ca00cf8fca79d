"""Improved precision and recall (Kynkäänniemi et al. 2019), as StyleGAN2's `pr50k3`.

Features: VGG16's second fully connected layer (fc2 / fc7, after its ReLU) of NVIDIA's metric
network `vgg16.pkl`, rebuilt here from the pickle's variables (read safely; its graph code is never
run). That file cannot be downloaded automatically; `VGG16_URL` is where the release published it.
Input preprocessing of the rebuilt network follows Keras' VGG16 (the layout the pickle's variables
have: 13 HWIO 3x3 convolutions, dense layers on the NHWC-flattened 7x7 map): uint8 RGB images
resized bilinearly to 224x224, channels reversed to BGR, the ImageNet mean subtracted.

Manifolds (as the release's `ManifoldEstimator`): squared Euclidean distances between features in
float16, `max(|u|^2 - 2 u.v + |v|^2, 0)`; the radius of each reference sample is the (k+1)-th
smallest distance within its own set (itself included, so its k-th nearest other neighbour);
precision = fraction of fakes inside some real sample's sphere, recall = fraction of reals inside
some fake sample's sphere.
"""
import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf import legacy
from stylegan_tf.metrics import evaluation, frechet_inception_distance, reporting

VGG16_FILE = "vgg16.pkl"
VGG16_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics/vgg16.pkl"
VGG16_RESOLUTION = 224
_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
_NUM_CONVS = 13
_POOL_AFTER = (1, 3, 6, 9, 12)  # conv indices (0-based) followed by a 2x2 max-pool


def batch_pairwise_distances(U, V):
    """Squared Euclidean distances [len(U), len(V)] in float16, as the release computes them."""
    U = tf.cast(U, tf.float16)
    V = tf.cast(V, tf.float16)
    norm_u = tf.reshape(tf.reduce_sum(tf.square(U), 1), [-1, 1])
    norm_v = tf.reshape(tf.reduce_sum(tf.square(V), 1), [1, -1])
    return tf.maximum(norm_u - 2 * tf.matmul(U, V, transpose_b=True) + norm_v, 0.0).numpy()


def manifold_radii(features, k=3, row_batch_size=10000, col_batch_size=10000):
    """float16 [N]: each sample's (k+1)-th smallest distance to its own set (self included)."""
    num = len(features)
    radii = np.zeros([num], np.float16)
    for begin1 in range(0, num, row_batch_size):
        end1 = min(begin1 + row_batch_size, num)
        distances = np.zeros([end1 - begin1, num], np.float16)
        for begin2 in range(0, num, col_batch_size):
            end2 = min(begin2 + col_batch_size, num)
            distances[:, begin2:end2] = batch_pairwise_distances(features[begin1:end1],
                                                                 features[begin2:end2])
        radii[begin1:end1] = np.partition(distances, k, axis=1)[:, k]
    return radii


def fraction_in_manifold(reference, radii, samples, row_batch_size=10000, col_batch_size=10000):
    """Fraction of `samples` within distance `radii[j]` of some reference feature j."""
    inside = np.zeros([len(samples)], bool)
    for begin1 in range(0, len(samples), row_batch_size):
        end1 = min(begin1 + row_batch_size, len(samples))
        for begin2 in range(0, len(reference), col_batch_size):
            end2 = min(begin2 + col_batch_size, len(reference))
            distances = batch_pairwise_distances(samples[begin1:end1], reference[begin2:end2])
            inside[begin1:end1] |= np.any(distances <= radii[np.newaxis, begin2:end2], axis=1)
    return float(inside.mean())


def precision_recall(real_features, fake_features, k=3, row_batch_size=10000, col_batch_size=10000):
    """(precision, recall) of fake features against real features."""
    real_radii = manifold_radii(real_features, k, row_batch_size, col_batch_size)
    fake_radii = manifold_radii(fake_features, k, row_batch_size, col_batch_size)
    precision = fraction_in_manifold(real_features, real_radii, fake_features, row_batch_size, col_batch_size)
    recall = fraction_in_manifold(fake_features, fake_radii, real_features, row_batch_size, col_batch_size)
    return precision, recall


# ----------------------------------------------------------------------------------------------
# The VGG16 feature network of vgg16.pkl.

class VGG16Features:
    """Callable uint8 NHWC RGB images (any size) -> float32 [N, fc2 width] features."""

    def __init__(self, convs, denses):
        self.convs = [(tf.constant(w, tf.float32), tf.constant(b, tf.float32)) for w, b in convs]
        self.denses = [(tf.constant(w, tf.float32), tf.constant(b, tf.float32)) for w, b in denses[:2]]
        self._forward = tf.function(self._features, reduce_retracing=True)

    def _features(self, images):
        x = tf.image.resize(tf.cast(images, tf.float32), [VGG16_RESOLUTION, VGG16_RESOLUTION],
                            method="bilinear")
        x = x[..., ::-1] - tf.constant(_IMAGENET_BGR_MEAN, tf.float32)
        for index, (kernel, bias) in enumerate(self.convs):
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)
            if index in _POOL_AFTER:
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        for kernel, bias in self.denses:
            x = tf.nn.relu(tf.matmul(x, kernel) + bias)
        return x

    def __call__(self, images):
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 4 or images.shape[-1] != 3:
            raise ValueError(f"VGG16 features need NHWC RGB images, got shape {images.shape}")
        return self._forward(images)


def _weight_and_bias(variables, index, rank, path):
    name, kernel = variables[index]
    if np.ndim(kernel) != rank or index + 1 >= len(variables) or np.ndim(variables[index + 1][1]) != 1 \
            or np.shape(variables[index + 1][1])[0] != np.shape(kernel)[-1]:
        raise ValueError(f"{path}: not NVIDIA's VGG16 metric network (variable {name} with shape "
                         f"{np.shape(kernel)} is not a {'conv' if rank == 4 else 'dense'} kernel "
                         "followed by its bias)")
    return np.asarray(kernel, np.float32), np.asarray(variables[index + 1][1], np.float32)


def load_vgg16(path):
    """VGG16Features of a `vgg16.pkl` (13 conv and 2-3 dense layers, kernel then bias each)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"pr50k3 needs NVIDIA's VGG16 metric network {VGG16_FILE}, which cannot be "
                         f"downloaded here: fetch it from {VGG16_URL} and give its path with "
                         f"--vgg16_pkl (not found: {path})")
    _func, variables = legacy.read_network_variables(path, "VGG16 metric network")
    convs, denses, index = [], [], 0
    while index < len(variables):
        rank = np.ndim(variables[index][1])
        if rank not in (2, 4) or (rank == 4 and denses):
            raise ValueError(f"{path}: not NVIDIA's VGG16 metric network (unexpected variable "
                             f"{variables[index][0]} with shape {np.shape(variables[index][1])})")
        (convs if rank == 4 else denses).append(_weight_and_bias(variables, index, rank, path))
        index += 2
    if len(convs) != _NUM_CONVS or len(denses) < 2:
        raise ValueError(f"{path}: not NVIDIA's VGG16 metric network ({len(convs)} conv and "
                         f"{len(denses)} dense layers; VGG16 has 13 and 3)")
    flat = 7 * 7 * convs[-1][0].shape[-1]
    if denses[0][0].shape[0] != flat:
        raise ValueError(f"{path}: the first dense layer takes {denses[0][0].shape[0]} inputs, "
                         f"VGG16's 7x7x{convs[-1][0].shape[-1]} map has {flat}")
    return VGG16Features(convs, denses)


class PR:
    """The `pr50k3` metric: precision and recall with k = 3.

    Args:
        name: metric name.
        num_images: reals and fakes.
        nhood_size: k.
        minibatch_per_gpu: batch per GPU.
        vgg16_pkl: path of NVIDIA's vgg16.pkl (None: the options' path, else
            `<cache>/metrics/vgg16.pkl`).
        row_batch_size, col_batch_size: distance block sizes (the release passes 10000 for both).
    """

    needs_reals = True

    def __init__(self, name, num_images, nhood_size=3, minibatch_per_gpu=8, vgg16_pkl=None,
                 row_batch_size=10000, col_batch_size=10000):
        self.name = name
        self.num_images = int(num_images)
        self.nhood_size = int(nhood_size)
        self.minibatch_per_gpu = int(minibatch_per_gpu)
        self.vgg16_pkl = vgg16_pkl
        self.row_batch_size, self.col_batch_size = int(row_batch_size), int(col_batch_size)

    def _vgg16_path(self, options):
        return self.vgg16_pkl or options.vgg16_pkl or str(options.metrics_cache_dir() / VGG16_FILE)

    def real_features(self, options, vgg16):
        cache_file = evaluation.real_statistics_cache_file(options, self.name, num_images=self.num_images)
        cached = evaluation.load_cached_reals(cache_file, ("features",))
        if cached is not None:
            return cached[0]
        minibatch = self.minibatch_per_gpu * options.num_gpus
        features, done = [], 0
        with tqdm(total=self.num_images, desc=f"{self.name} reals", unit="img",
                  disable=not options.progress, leave=False) as bar:
            for images in evaluation.iterate_reals(options, minibatch):
                count = min(len(images), self.num_images - done)
                batch = images[:count] if images.shape[-1] == 3 else np.tile(images[:count], [1, 1, 1, 3])
                features.append(vgg16(batch).numpy())
                done += count
                bar.update(count)
                if done == self.num_images:
                    break
        features = np.concatenate(features)
        evaluation.save_npz_atomic(cache_file, features=features)
        return features

    def fake_features(self, Gs, options, vgg16):
        minibatch = self.minibatch_per_gpu * options.num_gpus
        rng = tf.random.Generator.from_seed(options.seed)
        features = []
        with tqdm(total=self.num_images, desc=f"{self.name} fakes", unit="img",
                  disable=not options.progress, leave=False) as bar:
            for begin in range(0, self.num_images, minibatch):
                end = min(begin + minibatch, self.num_images)
                images = frechet_inception_distance.generated_images_uint8(
                    Gs, rng.normal([minibatch, Gs.latent_size]))
                if images.shape[-1] == 1:
                    images = tf.tile(images, [1, 1, 1, 3])
                features.append(vgg16(images).numpy()[:end - begin])
                bar.update(end - begin)
        return np.concatenate(features)

    def evaluate(self, Gs, options):
        vgg16 = load_vgg16(self._vgg16_path(options))
        evaluation.check_reals_match(Gs, options, self.num_images)
        reals = self.real_features(options, vgg16)
        tf.random.set_seed(options.seed)
        fakes = self.fake_features(Gs, options, vgg16)
        precision, recall = precision_recall(reals, fakes, self.nhood_size, self.row_batch_size,
                                             self.col_batch_size)
        return [reporting.MetricResult(self.name, "_precision", precision),
                reporting.MetricResult(self.name, "_recall", recall)]
