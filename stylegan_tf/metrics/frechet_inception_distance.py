"""Fréchet Inception Distance (Heusel et al. 2017), as the original StyleGAN's `fid50k`.

Reals: the first `num_images` images of the dataset (record order, mirrored as the run was),
statistics cached on disk. Fakes: `Gs(z, is_validation=True, randomize_noise=True)`, i.e.
untruncated with random noise, converted to uint8 like the original. Features: the Inception-v3
"2015-12-05" pool_3 (stylegan_tf.metrics.feature_networks). Distance:
`|mu_f - mu_r|^2 + Tr(S_f + S_r - 2 sqrtm(S_f S_r))`, real part, with SciPy's `sqrtm`.
"""
import numpy as np
import scipy.linalg
import tensorflow as tf
from tqdm import tqdm

from stylegan_tf import images as image_utils
from stylegan_tf import xla
from stylegan_tf.metrics import evaluation, feature_networks, reporting


def feature_statistics(features):
    """(mean [D], covariance [D, D]) of features [N, D], in float64; covariance with N - 1."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu_fake, sigma_fake, mu_real, sigma_real):
    """Fréchet distance between two Gaussians, as the original computes it.

    Args:
        mu_fake, sigma_fake: mean [D] and covariance [D, D] of the generated images' features.
        mu_real, sigma_real: the same for the real images.

    Returns:
        float.
    """
    mean_term = np.square(np.asarray(mu_fake) - np.asarray(mu_real)).sum()
    # SciPy >= 1.16 deprecates sqrtm's disp=False tuple; the plain call returns the array everywhere.
    root = scipy.linalg.sqrtm(np.dot(sigma_fake, sigma_real))
    return float(np.real(mean_term + np.trace(sigma_fake + sigma_real - 2 * root)))


def generated_images_uint8(Gs, latents):
    """Fakes as FID draws them: untruncated, random noise, uint8 NHWC."""
    images = Gs(latents, evaluation.zero_labels(Gs, tf.shape(latents)[0]), is_validation=True,
                randomize_noise=True)
    return image_utils.to_uint8_tensor(images)


class FID:
    """The `fidNk` metrics.

    Args:
        name: metric name, e.g. "fid50k".
        num_images: number of real and of generated images.
        minibatch_per_gpu: batch per GPU (times options.num_gpus).
    """

    needs_reals = True

    def __init__(self, name, num_images, minibatch_per_gpu=8):
        if num_images < 2:
            raise ValueError(f"FID needs at least 2 images, got num_images={num_images}")
        self.name = name
        self.num_images = int(num_images)
        self.minibatch_per_gpu = int(minibatch_per_gpu)

    def real_statistics(self, options, inception):
        """(mu, sigma) of the first `num_images` reals, from the cache when present."""
        cache_file = evaluation.real_statistics_cache_file(options, self.name, num_images=self.num_images)
        cached = evaluation.load_cached_reals(cache_file, ("mu", "sigma"))
        if cached is not None:
            return tuple(cached)
        minibatch = self.minibatch_per_gpu * options.num_gpus
        features = np.empty([self.num_images, feature_networks.INCEPTION_FEATURES], np.float32)
        done = 0
        with tqdm(total=self.num_images, desc=f"{self.name} reals", unit="img", disable=not options.progress,
                  leave=False) as bar:
            for images in evaluation.iterate_reals(options, minibatch):
                count = min(len(images), self.num_images - done)
                features[done:done + count] = inception(images[:count]).numpy()
                done += count
                bar.update(count)
                if done == self.num_images:
                    break
        mu, sigma = feature_statistics(features)
        evaluation.save_npz_atomic(cache_file, mu=mu, sigma=sigma)
        return mu, sigma

    def fake_features(self, Gs, options, inception):
        """Inception features [num_images, 2048] of images from Gs."""
        minibatch = self.minibatch_per_gpu * options.num_gpus
        rng = tf.random.Generator.from_seed(options.seed)

        @tf.function(reduce_retracing=True)
        def features_of_batch(latents):
            return inception(generated_images_uint8(Gs, latents))

        features = np.empty([self.num_images, feature_networks.INCEPTION_FEATURES], np.float32)
        with tqdm(total=self.num_images, desc=f"{self.name} fakes", unit="img", disable=not options.progress,
                  leave=False) as bar:
            for begin in range(0, self.num_images, minibatch):
                end = min(begin + minibatch, self.num_images)
                latents = rng.normal([minibatch, Gs.latent_size])
                features[begin:end] = features_of_batch(latents).numpy()[:end - begin]
                bar.update(end - begin)
        return features

    def evaluate(self, Gs, options):
        """Returns [MetricResult] with the FID of Gs against the dataset in `options`."""
        evaluation.check_reals_match(Gs, options, self.num_images)
        inception = feature_networks.inception_v3(options.inception_path, jit_compile=xla.use_xla(options.xla))
        mu_real, sigma_real = self.real_statistics(options, inception)
        tf.random.set_seed(options.seed)  # Gs's own noise draws
        mu_fake, sigma_fake = feature_statistics(self.fake_features(Gs, options, inception))
        return [reporting.MetricResult(self.name, "", frechet_distance(mu_fake, sigma_fake, mu_real, sigma_real))]
