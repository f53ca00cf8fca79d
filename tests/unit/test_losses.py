"""Loss functions on hand-computable toy networks and on tiny real networks."""
import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf import networks
from stylegan_tf.training import config as config_lib
from stylegan_tf.training import losses


def softplus(x):
    return np.log1p(np.exp(x))


class ToyG:
    """latents [N, 4] -> images [N, 2, 2, 1]; records how it was called."""

    def __init__(self):
        self.calls = []

    def __call__(self, latents, labels, **kwargs):
        self.calls.append((labels, kwargs))
        return tf.reshape(tf.convert_to_tensor(latents, tf.float32), [-1, 2, 2, 1])


class ToyD:
    """D(x) = a * sum(x^2) + b * sum(x) per sample (+ c * labels[:, 0] when labelled), so that
    dD/dx = 2 a x + b is known in closed form."""

    def __init__(self, a=0.3, b=-0.2):
        self.a = tf.Variable(a)
        self.b = tf.Variable(b)

    def __call__(self, images, labels):
        images = tf.convert_to_tensor(images, tf.float32)
        return (self.a * tf.reduce_sum(tf.square(images), axis=[1, 2, 3])[:, None]
                + self.b * tf.reduce_sum(images, axis=[1, 2, 3])[:, None])


def toy_scores(x, a=0.3, b=-0.2):
    x = x.reshape(len(x), -1)
    return (a * np.sum(x ** 2, axis=1) + b * np.sum(x, axis=1))[:, None]


def toy_input_grad_sq(x, a=0.3, b=-0.2):
    x = x.reshape(len(x), -1)
    return np.sum((2 * a * x + b) ** 2, axis=1)[:, None]


RNG = np.random.RandomState(0)
LATENTS = RNG.randn(3, 4).astype(np.float32)
REALS = RNG.randn(3, 2, 2, 1).astype(np.float32)
LABELS = np.eye(3, dtype=np.float32)


def test_generator_losses_values_and_training_mode():
    fake_scores = toy_scores(LATENTS)
    cases = {"G_logistic_nonsaturating": softplus(-fake_scores),
             "G_logistic_saturating": -softplus(fake_scores),
             "G_wgan": -fake_scores}
    for name, expected in cases.items():
        G = ToyG()
        loss, series = losses.G_LOSSES[name](G, ToyD(), LATENTS, LABELS)
        assert loss.shape == (3, 1)
        np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-6)
        assert series == {}
        assert G.calls[0][1] == {"is_training": True}
        np.testing.assert_array_equal(G.calls[0][0], LABELS)


def test_discriminator_losses_values():
    real, fake = toy_scores(REALS), toy_scores(LATENTS)
    r1 = toy_input_grad_sq(REALS)
    r2 = toy_input_grad_sq(LATENTS)
    logistic = softplus(fake) + softplus(-real)
    cases = [
        ("D_logistic", {}, logistic),
        ("D_logistic_simplegp", {}, logistic + 5.0 * r1),
        ("D_logistic_simplegp", {"r1_gamma": 0.0, "r2_gamma": 4.0}, logistic + 2.0 * r2),
        ("D_logistic_simplegp", {"r1_gamma": 1.0, "r2_gamma": 1.0}, logistic + 0.5 * (r1 + r2)),
        ("D_wgan", {}, fake - real + 0.001 * real ** 2),
        ("D_wgan", {"wgan_epsilon": 0.5}, fake - real + 0.5 * real ** 2),
        ("D_hinge", {}, np.maximum(0, 1 + fake) + np.maximum(0, 1 - real)),
    ]
    for name, kwargs, expected in cases:
        G = ToyG()
        loss, series = losses.D_LOSSES[name](G, ToyD(), LATENTS, REALS, LABELS, **kwargs)
        assert loss.shape == (3, 1), name
        np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(series["Loss/scores/real"].numpy(), real, rtol=1e-5)
        np.testing.assert_allclose(series["Loss/scores/fake"].numpy(), fake, rtol=1e-5)
        # Fakes are generated with the reals' labels, in training mode.
        np.testing.assert_array_equal(G.calls[0][0], LABELS)
        assert G.calls[0][1] == {"is_training": True}
    _, series = losses.D_logistic_simplegp(ToyG(), ToyD(), LATENTS, REALS, LABELS,
                                           r2_gamma=1.0)
    np.testing.assert_allclose(series["Loss/r1_penalty"].numpy(), r1, rtol=1e-5)
    np.testing.assert_allclose(series["Loss/r2_penalty"].numpy(), r2, rtol=1e-5)
    _, series = losses.D_logistic_simplegp(ToyG(), ToyD(), LATENTS, REALS, LABELS, r1_gamma=0.0)
    assert "Loss/r1_penalty" not in series and "Loss/r2_penalty" not in series


@pytest.mark.parametrize("name", ["D_wgan_gp", "D_hinge_gp"])
def test_gradient_penalty_losses_with_seed(name):
    seed = tf.constant([3, 4], tf.int64)
    mixing = losses.stateless_uniform([3, 1, 1, 1], seed).numpy()
    fakes = LATENTS.reshape(3, 2, 2, 1)
    mixed = REALS + (fakes - REALS) * mixing
    norms = np.sqrt(toy_input_grad_sq(mixed))
    real, fake = toy_scores(REALS), toy_scores(LATENTS)
    if name == "D_wgan_gp":
        expected = fake - real + 10.0 * (norms - 1.0) ** 2 + 0.001 * real ** 2
    else:
        expected = np.maximum(0, 1 + fake) + np.maximum(0, 1 - real) + 10.0 * (norms - 1.0) ** 2
    loss, series = losses.D_LOSSES[name](ToyG(), ToyD(), LATENTS, REALS, LABELS, seed=seed)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(series["Loss/mixed_norms"].numpy(), norms, rtol=1e-5)
    np.testing.assert_allclose(series["Loss/scores/mixed"].numpy(), toy_scores(mixed), rtol=1e-5)
    # Target and lambda: (lambda / target^2) * (norm - target)^2.
    loss2, _ = losses.D_LOSSES[name](ToyG(), ToyD(), LATENTS, REALS, LABELS, seed=seed,
                                     wgan_lambda=2.0, wgan_target=3.0)
    np.testing.assert_allclose((loss2 - loss).numpy(),
                               2.0 / 9.0 * (norms - 3.0) ** 2 - 10.0 * (norms - 1.0) ** 2,
                               rtol=1e-4, atol=1e-5)


def test_r1_second_order_gradient_matches_closed_form():
    """d mean(loss) / d a, through the R1 term's input gradient (double backprop)."""
    D = ToyD()
    with tf.GradientTape() as tape:
        loss, _ = losses.D_logistic_simplegp(ToyG(), D, LATENTS, REALS, None, r1_gamma=10.0)
        loss = tf.reduce_mean(loss)
    grad_a, grad_b = tape.gradient(loss, [D.a, D.b])
    a, b = 0.3, -0.2
    real, fake = toy_scores(REALS), toy_scores(LATENTS)
    xr, xf = REALS.reshape(3, -1), LATENTS.reshape(3, -1)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    # d/da softplus(D(f)) = sigmoid(D(f)) sum(f^2); d/da softplus(-D(r)) = -sigmoid(-D(r)) sum(r^2)
    # d/da 5 * sum((2 a r + b)^2) = 5 * sum(2 (2 a r + b) * 2 r)
    expect_a = np.mean(sigmoid(fake)[:, 0] * np.sum(xf ** 2, 1) - sigmoid(-real)[:, 0]
                       * np.sum(xr ** 2, 1) + 5 * np.sum(4 * (2 * a * xr + b) * xr, 1))
    expect_b = np.mean(sigmoid(fake)[:, 0] * np.sum(xf, 1) - sigmoid(-real)[:, 0]
                       * np.sum(xr, 1) + 5 * np.sum(2 * (2 * a * xr + b), 1))
    np.testing.assert_allclose(grad_a.numpy(), expect_a, rtol=1e-4)
    np.testing.assert_allclose(grad_b.numpy(), expect_b, rtol=1e-4)


def test_loss_names_match_config():
    assert tuple(losses.G_LOSSES) == config_lib.G_LOSS_NAMES
    assert tuple(losses.D_LOSSES) == config_lib.D_LOSS_NAMES
    assert losses.SEEDED_LOSSES <= set(losses.D_LOSSES)


def test_tiny_networks_r1_penalty_and_gradients_in_tf_function():
    """On the real (tiny) networks: R1 equals a separately computed input gradient, and the D
    step's gradients reach every D variable and are finite (double backprop inside a graph)."""
    kwargs = dict(resolution=8, num_channels=3, fmap_base=32, fmap_max=16)
    G = networks.Generator(latent_size=8, dlatent_size=8, mapping_layers=1, mapping_fmaps=8,
                           **kwargs)
    D = networks.Discriminator(**kwargs)
    latents = tf.constant(np.random.RandomState(1).randn(4, 8), tf.float32)
    reals = tf.constant(np.random.RandomState(2).uniform(-1, 1, [4, 8, 8, 3]), tf.float32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss, series = losses.D_logistic_simplegp(G, D, latents, reals, None)
            mean = tf.reduce_mean(loss)
        grads = tape.gradient(mean, D.trainable_variables)
        with tf.GradientTape() as inner:
            inner.watch(reals)
            total = tf.reduce_sum(D(reals, None))
        r1 = tf.reduce_sum(tf.square(inner.gradient(total, reals)), axis=[1, 2, 3])
        return loss, series, grads, r1

    loss, series, grads, r1 = step()
    assert loss.shape == (4, 1) and np.all(np.isfinite(loss.numpy()))
    np.testing.assert_allclose(series["Loss/r1_penalty"].numpy()[:, 0], r1.numpy(), rtol=1e-4)
    assert all(grad is not None and np.all(np.isfinite(grad.numpy())) for grad in grads)
    # At lod 0 the 4x4 FromRGB is not used; every other variable gets a gradient.
    names = {id(var): name for name, var in D.original_variables().items()}
    for var, grad in zip(D.trainable_variables, grads):
        used = not names[id(var)].startswith("FromRGB_lod1/")
        assert (float(tf.reduce_sum(tf.abs(grad))) > 0) == used, names[id(var)]


def test_stateless_draws_agree_with_xla_and_have_the_right_distribution():
    seed = tf.constant([7, 9], tf.int64)
    draw = lambda: (losses.stateless_uniform([20000], seed),  # noqa: E731
                    losses.stateless_normal([20000], seed))
    uniform, normal = draw()
    uniform_xla, normal_xla = tf.function(draw, jit_compile=True)()
    np.testing.assert_array_equal(uniform.numpy(), uniform_xla.numpy())
    np.testing.assert_allclose(normal.numpy(), normal_xla.numpy(), rtol=1e-5, atol=1e-5)
    assert 0.0 <= uniform.numpy().min() and uniform.numpy().max() < 1.0
    assert abs(uniform.numpy().mean() - 0.5) < 0.01
    assert abs(normal.numpy().mean()) < 0.03 and abs(normal.numpy().std() - 1.0) < 0.03
