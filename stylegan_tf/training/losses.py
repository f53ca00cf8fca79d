"""The loss functions of the original release (`training/loss.py`) as pure functions.

Each takes the networks as callables, `G(latents, labels, is_training=True)` -> images and
`D(images, labels)` -> scores [N, 1], plus the latents (and for D the processed reals with their
labels), and returns `(loss, series)`: the per-sample loss [N, 1] (the training step minimizes its
mean) and a dict of the values the original reports with `autosummary` (scores [N, 1], penalties
[N, 1]). Gradient penalties differentiate D through an inner GradientTape, so call these inside
the GradientTape of the training step to get their second-order gradients.

The original adds its [N] penalties to the [N, 1] loss, which broadcasts to [N, N]; the mean that
training uses is the same as with the [N, 1] sum returned here.

Example:
    loss, series = D_logistic_simplegp(G, D, latents, reals, labels, r1_gamma=10.0)
    tf.reduce_mean(loss)   # what the D optimizer minimizes
"""

import inspect

import numpy as np
import tensorflow as tf

from stylegan_tf import names


def _generate(G, latents, labels):
    return G(latents, labels, is_training=True)


def _scores_and_input_grads(D, images, labels):
    """D(images) and d sum(D(images)) / d images (recorded for double backprop)."""
    images = tf.cast(images, tf.float32)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(images)
        scores = tf.cast(D(images, labels), tf.float32)
        total = tf.reduce_sum(scores)
    return scores, tf.cast(tape.gradient(total, images), tf.float32)


def _sum_of_squares(grads):
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])[:, tf.newaxis]  # [N, 1]


def stateless_uniform(shape, seed):
    """U[0, 1) float32 from a stateless seed [2], the same numbers with and without XLA.

    (TensorFlow's float stateless ops convert Philox bits differently under XLA; its integer
    bits agree, so the conversion is done here: the top 24 bits scaled by 2^-24.)
    """
    bits = tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint32,
                                       alg="philox")
    return tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) * (1.0 / (1 << 24))


def stateless_normal(shape, seed):
    """N(0, 1) float32 from a stateless seed [2] (Box-Muller on `stateless_uniform`), the same
    numbers with and without XLA up to float rounding."""
    seeds = tf.random.experimental.stateless_split(seed, num=2, alg="philox")
    radius = tf.sqrt(-2.0 * tf.math.log(1.0 - stateless_uniform(shape, seeds[0])))
    return radius * tf.cos((2.0 * 3.141592653589793) * stateless_uniform(shape, seeds[1]))


def _mixing_factors(batch, seed):
    shape = [batch, 1, 1, 1]
    if seed is None:
        return tf.random.uniform(shape, 0.0, 1.0)
    return stateless_uniform(shape, seed)


# ----------------------------------------------------------------------------------------------
# Generator losses. Labels are random rows of the dataset's label array.


def G_wgan(G, D, latents, labels):
    """WGAN generator loss `-D(G(z))`.

    Args:
        G, D: generator and discriminator callables.
        latents: [N, latent_size].
        labels: [N, label_size] (or None for unconditional networks).

    Returns:
        (loss [N, 1], {}).
    """
    fake_scores = tf.cast(D(_generate(G, latents, labels), labels), tf.float32)
    return -fake_scores, {}


def G_logistic_saturating(G, D, latents, labels):
    """Saturating logistic loss `-softplus(D(G(z)))` = log(1 - sigmoid(D(G(z)))). Args as G_wgan."""
    fake_scores = tf.cast(D(_generate(G, latents, labels), labels), tf.float32)
    return -tf.nn.softplus(fake_scores), {}


def G_logistic_nonsaturating(G, D, latents, labels):
    """Non-saturating logistic loss `softplus(-D(G(z)))` = -log(sigmoid(D(G(z)))) (the default).
    Args as G_wgan."""
    fake_scores = tf.cast(D(_generate(G, latents, labels), labels), tf.float32)
    return tf.nn.softplus(-fake_scores), {}


# ----------------------------------------------------------------------------------------------
# Discriminator losses. Fakes are generated with the real batch's labels.


def _real_and_fake_scores(G, D, latents, reals, labels, need_real_grads=False):
    fakes = _generate(G, latents, labels)
    if need_real_grads:
        real_scores, real_grads = _scores_and_input_grads(D, reals, labels)
    else:
        real_scores, real_grads = tf.cast(D(reals, labels), tf.float32), None
    return fakes, real_scores, real_grads


def D_wgan(G, D, latents, reals, labels, wgan_epsilon=0.001):
    """WGAN critic loss `D(fake) - D(real) + eps * D(real)^2`.

    Args:
        G, D: generator and discriminator callables.
        latents: [N, latent_size].
        reals: processed real images [N, H, W, C] in the network range.
        labels: the reals' labels [N, label_size] (or None).
        wgan_epsilon: weight of the drift term.

    Returns:
        (loss [N, 1], series with 'Loss/scores/real', 'Loss/scores/fake', 'Loss/epsilon_penalty').
    """
    fakes, real_scores, _ = _real_and_fake_scores(G, D, latents, reals, labels)
    fake_scores = tf.cast(D(fakes, labels), tf.float32)
    epsilon_penalty = tf.square(real_scores)
    loss = fake_scores - real_scores + epsilon_penalty * wgan_epsilon
    return loss, {"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores,
                  "Loss/epsilon_penalty": epsilon_penalty}


def _gradient_penalty(D, reals, fakes, labels, wgan_lambda, wgan_target, seed):
    """(lambda / target^2) * (|grad D(mixed)| - target)^2 on random interpolates."""
    mixing = _mixing_factors(tf.shape(fakes)[0], seed)
    mixed = reals + (fakes - reals) * mixing
    mixed_scores, mixed_grads = _scores_and_input_grads(D, mixed, labels)
    mixed_norms = tf.sqrt(_sum_of_squares(mixed_grads))
    penalty = tf.square(mixed_norms - wgan_target) * (wgan_lambda / (wgan_target ** 2))
    return penalty, {"Loss/scores/mixed": mixed_scores, "Loss/mixed_norms": mixed_norms}


def D_wgan_gp(G, D, latents, reals, labels, wgan_lambda=10.0, wgan_epsilon=0.001,
              wgan_target=1.0, seed=None):
    """WGAN-GP critic loss: D_wgan plus `(lambda/target^2)(|grad D(mixed)| - target)^2` with
    `mixed = real + (fake - real) * u`, u ~ U[0, 1) per sample.

    Args:
        G, D, latents, reals, labels: as D_wgan.
        wgan_lambda: gradient penalty weight.
        wgan_epsilon: drift term weight.
        wgan_target: target gradient norm.
        seed: stateless seed [2] for u (None = TensorFlow's global generator).

    Returns:
        (loss [N, 1], series: scores real/fake/mixed, 'Loss/mixed_norms', 'Loss/epsilon_penalty').
    """
    fakes, real_scores, _ = _real_and_fake_scores(G, D, latents, reals, labels)
    fake_scores = tf.cast(D(fakes, labels), tf.float32)
    loss = fake_scores - real_scores
    penalty, series = _gradient_penalty(D, reals, fakes, labels, wgan_lambda, wgan_target, seed)
    epsilon_penalty = tf.square(real_scores)
    loss = loss + penalty + epsilon_penalty * wgan_epsilon
    series.update({"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores,
                   "Loss/epsilon_penalty": epsilon_penalty})
    return loss, series


def D_hinge(G, D, latents, reals, labels):
    """Hinge loss `max(0, 1 + D(fake)) + max(0, 1 - D(real))` (use with G_wgan). Args as D_wgan.

    Returns:
        (loss [N, 1], series with 'Loss/scores/real', 'Loss/scores/fake').
    """
    fakes, real_scores, _ = _real_and_fake_scores(G, D, latents, reals, labels)
    fake_scores = tf.cast(D(fakes, labels), tf.float32)
    loss = tf.maximum(0.0, 1.0 + fake_scores) + tf.maximum(0.0, 1.0 - real_scores)
    return loss, {"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores}


def D_hinge_gp(G, D, latents, reals, labels, wgan_lambda=10.0, wgan_target=1.0, seed=None):
    """D_hinge plus the WGAN-GP gradient penalty (no drift term). Args as D_wgan_gp.

    Returns:
        (loss [N, 1], series: scores real/fake/mixed, 'Loss/mixed_norms').
    """
    fakes, real_scores, _ = _real_and_fake_scores(G, D, latents, reals, labels)
    fake_scores = tf.cast(D(fakes, labels), tf.float32)
    loss = tf.maximum(0.0, 1.0 + fake_scores) + tf.maximum(0.0, 1.0 - real_scores)
    penalty, series = _gradient_penalty(D, reals, fakes, labels, wgan_lambda, wgan_target, seed)
    series.update({"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores})
    return loss + penalty, series


def D_logistic(G, D, latents, reals, labels):
    """Logistic loss `softplus(D(fake)) + softplus(-D(real))`. Args as D_wgan.

    Returns:
        (loss [N, 1], series with 'Loss/scores/real', 'Loss/scores/fake').
    """
    fakes, real_scores, _ = _real_and_fake_scores(G, D, latents, reals, labels)
    fake_scores = tf.cast(D(fakes, labels), tf.float32)
    loss = tf.nn.softplus(fake_scores) + tf.nn.softplus(-real_scores)
    return loss, {"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores}


def D_logistic_simplegp(G, D, latents, reals, labels, r1_gamma=10.0, r2_gamma=0.0):
    """Logistic loss with the simple gradient penalties of Mescheder et al. 2018 (the default):
    `softplus(D(fake)) + softplus(-D(real)) + (r1_gamma/2) |grad D(real)|^2
    + (r2_gamma/2) |grad D(fake)|^2`, gradients of sum(D) w.r.t. the images.

    Args:
        G, D, latents, reals, labels: as D_wgan.
        r1_gamma: R1 weight (penalty on reals); 0 disables.
        r2_gamma: R2 weight (penalty on fakes); 0 disables.

    Returns:
        (loss [N, 1], series: scores real/fake and, when enabled, 'Loss/r1_penalty' and
        'Loss/r2_penalty' [N, 1]).
    """
    fakes, real_scores, real_grads = _real_and_fake_scores(
        G, D, latents, reals, labels, need_real_grads=r1_gamma != 0.0)
    if r2_gamma != 0.0:
        fake_scores, fake_grads = _scores_and_input_grads(D, fakes, labels)
    else:
        fake_scores = tf.cast(D(fakes, labels), tf.float32)
    loss = tf.nn.softplus(fake_scores) + tf.nn.softplus(-real_scores)
    series = {"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores}
    if r1_gamma != 0.0:
        r1_penalty = _sum_of_squares(real_grads)
        series["Loss/r1_penalty"] = r1_penalty
        loss = loss + r1_penalty * (r1_gamma * 0.5)
    if r2_gamma != 0.0:
        r2_penalty = _sum_of_squares(fake_grads)
        series["Loss/r2_penalty"] = r2_penalty
        loss = loss + r2_penalty * (r2_gamma * 0.5)
    return loss, series


# ----------------------------------------------------------------------------------------------
# StyleGAN2 (`training/loss.py` of the StyleGAN2 release). Its losses split into the main term and
# a regularizer that lazy regularization evaluates only every `reg_interval` minibatches.


def G_logistic_ns(G, D, latents, labels):
    """StyleGAN2's `G_logistic_ns`: `softplus(-D(G(z)))` (the same as StyleGAN's non-saturating
    loss). Returns (loss [N, 1], {}): the release records no scores in G's step, so that its
    'Loss/scores/fake' series is the D step's alone."""
    fake_scores = tf.cast(D(_generate(G, latents, labels), labels), tf.float32)
    return tf.nn.softplus(-fake_scores), {}


def D_logistic_r1_loss(G, D, latents, reals, labels, fakes=None):
    """The main term of `D_logistic_r1`: `softplus(D(fake)) + softplus(-D(real))` [N, 1]; `fakes`
    replaces G's output when given. Returns (loss, series with the real and fake scores)."""
    fakes = _generate(G, latents, labels) if fakes is None else fakes
    real_scores = tf.cast(D(reals, labels), tf.float32)
    fake_scores = tf.cast(D(fakes, labels), tf.float32)
    loss = tf.nn.softplus(fake_scores) + tf.nn.softplus(-real_scores)
    return loss, {"Loss/scores/real": real_scores, "Loss/scores/fake": fake_scores}


def r1_regularizer(D, reals, labels, gamma=10.0):
    """The regularizer of `D_logistic_r1`: `(gamma / 2) * |d sum(D(reals)) / d reals|^2` per sample
    [N]. Returns (reg, series with 'Loss/gradient_penalty' [N] and 'Loss/scores/real', which the
    release's lazy R1 step records too: its penalty is computed from the summarized scores)."""
    real_scores, real_grads = _scores_and_input_grads(D, reals, labels)
    penalty = tf.reduce_sum(tf.square(real_grads), axis=[1, 2, 3])
    return penalty * (gamma * 0.5), {"Loss/gradient_penalty": penalty, "Loss/scores/real": real_scores}


def path_length_regularizer(G, pl_latents, labels, pl_noise, pl_mean, pl_decay=0.01, pl_weight=2.0):
    """The regularizer of `G_logistic_ns_pathreg`: the path length of `pl_latents` (the gradient of
    `sum(images * pl_noise / sqrt(H * W))` w.r.t. the dlatents, RMS over layers) against its running
    mean. The caller draws `pl_latents` (minibatch // pl_minibatch_shrink) and `pl_noise` (N(0, 1),
    the images' shape) and keeps `pl_mean` (a per-replica variable, as the original's per-GPU one).

    Returns:
        (reg = (pl_lengths - new_pl_mean)^2 * pl_weight [N], new_pl_mean (assign it to the
        variable), series with 'Loss/pl_lengths' and 'Loss/pl_penalty' [N]).
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        dlatents = G.compute_dlatents(pl_latents, labels, is_training=True)
        tape.watch(dlatents)
        images = tf.cast(G.synthesis(dlatents), tf.float32)
        noise = pl_noise / float(np.sqrt(int(images.shape[1]) * int(images.shape[2])))
        total = tf.reduce_sum(images * noise)
    pl_grads = tape.gradient(total, dlatents)
    pl_lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(pl_grads), axis=2), axis=1))
    pl_mean = tf.convert_to_tensor(pl_mean, tf.float32)
    new_pl_mean = pl_mean + pl_decay * (tf.reduce_mean(pl_lengths) - pl_mean)
    pl_penalty = tf.square(pl_lengths - new_pl_mean)
    return pl_penalty * pl_weight, new_pl_mean, {"Loss/pl_lengths": pl_lengths,
                                                 "Loss/pl_penalty": pl_penalty}


# ----------------------------------------------------------------------------------------------
# From a loss function to a training step's gradients and tick statistics.


def mean_loss_gradients(variables, loss_name, loss_fn):
    """Gradients of the batch-mean loss w.r.t. `variables` (zeros where disconnected) and the
    loss function's series with the mean loss under `loss_name`."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch([var.value for var in variables])
        loss, series = loss_fn()
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, [var.value for var in variables])
    grads = [tf.zeros_like(var) if grad is None else grad for grad, var in zip(grads, variables)]
    stats = series_stats(series)
    stats[loss_name] = loss
    return grads, stats


def series_stats(series):
    """{name: tensor} -> {name/sum, name/count} float32 scalars (the tick mean's parts)."""
    stats = {}
    for name, value in series.items():
        value = tf.cast(value, tf.float32)
        stats[f"{name}/sum"] = tf.reduce_sum(value)
        stats[f"{name}/count"] = tf.cast(tf.size(value), tf.float32)
    return stats


G_LOSSES = {
    "G_wgan": G_wgan,
    "G_logistic_saturating": G_logistic_saturating,
    "G_logistic_nonsaturating": G_logistic_nonsaturating,
    "G_logistic_ns": G_logistic_ns,
    "G_logistic_ns_pathreg": G_logistic_ns,  # + PATH_LENGTH_LOSSES' regularizer
}
D_LOSSES = {
    "D_wgan": D_wgan,
    "D_wgan_gp": D_wgan_gp,
    "D_hinge": D_hinge,
    "D_hinge_gp": D_hinge_gp,
    "D_logistic": D_logistic,
    "D_logistic_simplegp": D_logistic_simplegp,
    "D_logistic_r1": D_logistic_r1_loss,  # + R1_LOSSES' regularizer
}
# StyleGAN2's losses whose regularizer is a separate term (run lazily or added to the main loss):
# all their keyword arguments belong to the regularizer.
PATH_LENGTH_LOSSES = names.PATH_LENGTH_LOSSES  # path_length_regularizer, pl_minibatch_shrink
R1_LOSSES = names.R1_LOSSES  # r1_regularizer
# Losses that take a stateless `seed` for their own randomness.
SEEDED_LOSSES = frozenset({"D_wgan_gp", "D_hinge_gp"})
PL_MINIBATCH_SHRINK = 2  # the release's default: the path-length batch is the pass's // 2
_NOT_KEYWORDS = {"G", "D", "latents", "reals", "labels", "seed", "fakes", "pl_latents", "pl_noise", "pl_mean"}


def effective_loss_kwargs(func_name, kwargs):
    """Every keyword argument a loss runs with: `kwargs` over its defaults (for StyleGAN2's
    regularized losses, the regularizer's, whose arguments they all are).

    Raises:
        ValueError: an unknown loss, or a keyword it does not take.
    """
    if func_name in PATH_LENGTH_LOSSES:
        function, extra = path_length_regularizer, {"pl_minibatch_shrink": PL_MINIBATCH_SHRINK}
    elif func_name in R1_LOSSES:
        function, extra = r1_regularizer, {}
    elif func_name in G_LOSSES or func_name in D_LOSSES:
        function, extra = G_LOSSES.get(func_name) or D_LOSSES[func_name], {}
    else:
        raise ValueError(f"unknown loss {func_name!r}.")
    defaults = {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()
                if parameter.default is not inspect.Parameter.empty and name not in _NOT_KEYWORDS}
    defaults.update(extra)
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"{func_name} takes no argument {', '.join(unknown)} (it takes "
                         f"{', '.join(sorted(defaults)) or 'none'}).")
    return {**defaults, **kwargs}
