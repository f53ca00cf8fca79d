"""Truncation and style mixing of both releases: how `G_style` / `G_main` resolve their flags, the
truncation trick towards the W average, and the crossover of two dlatents at a layer cutoff."""

import tensorflow as tf

from stylegan_tf import ops


def truncation_settings(is_training, is_validation, psi, cutoff, psi_val, cutoff_val,
                         avg_beta, mixing_prob, nonpositive_cutoff_disables=True):
    """The original G_style's resolution of its flags (`G_style` in `training/networks_stylegan.py`);
    StyleGAN2's G_main resolves them the same way except that it keeps a cutoff <= 0
    (`nonpositive_cutoff_disables=False`: it then truncates no layer)."""
    if is_training and is_validation:
        raise ValueError("is_training and is_validation are mutually exclusive.")
    if is_validation:
        psi, cutoff = psi_val, cutoff_val
    is_number = lambda value: value is not None and not tf.is_tensor(value)  # noqa: E731
    if is_training or (is_number(psi) and psi == 1):
        psi = None
    if is_training or (nonpositive_cutoff_disables and is_number(cutoff) and cutoff <= 0):
        cutoff = None
    if not is_training or (is_number(avg_beta) and avg_beta == 1):
        avg_beta = None
    if not is_training or (is_number(mixing_prob) and mixing_prob <= 0):
        mixing_prob = None
    return psi, cutoff, avg_beta, mixing_prob


def mix_at_cutoff(dlatents, dlatents2, cutoff):
    """Layer i keeps dlatents[:, i] if i < cutoff, else takes dlatents2[:, i]."""
    layer_index = tf.range(tf.shape(dlatents)[1])[tf.newaxis, :, tf.newaxis]
    return tf.where(layer_index < cutoff, dlatents, dlatents2)


def truncate_dlatents(dlatents, dlatent_avg, psi, cutoff):
    """`avg + (w - avg) * coef` with coef = psi on layers i < cutoff and 1 elsewhere."""
    layer_index = tf.range(tf.shape(dlatents)[1])[tf.newaxis, :, tf.newaxis]
    coefs = tf.where(layer_index < cutoff, tf.cast(psi, dlatents.dtype), tf.ones([], dlatents.dtype))
    return ops.lerp(dlatent_avg, dlatents, coefs)
