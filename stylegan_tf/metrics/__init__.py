"""GAN metrics of the original StyleGAN: FID, perceptual path length, linear separability.

Modules: `feature_networks` (Inception-v3 and LPIPS-VGG16 with their published weights),
`evaluation` (options, real images, cached statistics), `reporting` (results and their files),
`torch_files` (PyTorch weight files read safely), one module per metric, and `registry`
(`get_metric(name)`, `evaluate(metric, network_pkl, options)`; metrics register by decorator).
"""

_REGISTRY_NAMES = ("get_metric", "evaluate", "STANDARD_METRICS")


def __getattr__(name):
    # Lazy, so that `stylegan_tf.metrics.feature_networks` alone does not import scikit-learn.
    if name in _REGISTRY_NAMES:
        from stylegan_tf.metrics import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'stylegan_tf.metrics' has no attribute {name!r}")
