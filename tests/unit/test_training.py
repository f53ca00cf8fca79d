"""The training loop's parts: reals processing, Adam, Gs, compiled steps, replicas, XLA."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf.training import optimizer
from stylegan_tf.training.reals import process_reals
from stylegan_tf.training.schedule import lod_range_of

import training_fixtures as fixtures


def original_process_reals(x_nchw, lod, drange_net=(-1, 1)):
    """The original's process_reals (NCHW, reshape-mean fade, tile upscale) in NumPy, without
    mirroring."""
    x = x_nchw.astype(np.float32)
    scale = (np.float32(drange_net[1]) - np.float32(drange_net[0])) / np.float32(255)
    x = x * scale + (np.float32(drange_net[0]) - np.float32(0) * scale)
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5), keepdims=True)
    y = np.tile(y, [1, 1, 1, 2, 1, 2]).reshape(n, c, h, w)
    x = x + (y - x) * np.float32(lod - np.floor(lod))
    factor = int(2 ** np.floor(lod))
    x = np.tile(x.reshape(n, c, h, 1, w, 1), [1, 1, 1, factor, 1, factor])
    return x.reshape(n, c, h * factor, w * factor)


@pytest.mark.parametrize("lod", [0.0, 1.0, 1.3, 2.75])
def test_process_reals_matches_the_original(lod):
    resolution = 32
    size = resolution >> int(np.floor(lod))
    images = np.random.RandomState(0).randint(0, 256, [3, size, size, 3]).astype(np.uint8)
    ours = process_reals(tf.constant(images), tf.constant(lod), False, [0, 255],
                                       [-1, 1], resolution).numpy()
    reference = original_process_reals(images.transpose(0, 3, 1, 2), lod).transpose(0, 2, 3, 1)
    assert ours.shape == (3, resolution, resolution, 3)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-6)


def test_process_reals_mirror():
    images = np.random.RandomState(1).randint(0, 256, [2, 8, 8, 1]).astype(np.uint8)
    out = process_reals(tf.constant(images), tf.constant(0.0), True, [0, 255],
                                      [-1, 1], 8, mirror_random=tf.constant([0.2, 0.7])).numpy()
    plain = images.astype(np.float32) * np.float32(2 / 255) - 1
    np.testing.assert_allclose(out[0], plain[0], atol=1e-6)          # < 0.5 keeps the image
    np.testing.assert_allclose(out[1], plain[1, :, ::-1], atol=1e-6)  # >= 0.5 flips the width


def tf1_adam(param, grads, lr, beta1=0.0, beta2=0.99, eps=1e-8):
    """tf.train.AdamOptimizer's dense update (training_ops ApplyAdam), in float32."""
    param = param.astype(np.float32).copy()
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    b1p, b2p = np.float32(beta1), np.float32(beta2)
    for grad in grads:
        lr_t = np.float32(lr) * np.sqrt(np.float32(1) - b2p) / (np.float32(1) - b1p)
        m = m + (grad - m) * np.float32(1 - beta1)
        v = v + (grad * grad - v) * np.float32(1 - beta2)
        param = param - lr_t * m / (np.sqrt(v) + np.float32(eps))
        b1p, b2p = b1p * np.float32(beta1), b2p * np.float32(beta2)
    return param


def test_adam_matches_tf1_and_skips_non_finite_updates():
    rng = np.random.RandomState(2)
    start = rng.randn(5).astype(np.float32)
    grads = [rng.randn(5).astype(np.float32) * 10 ** rng.uniform(-6, 1) for _ in range(4)]
    var = tf.Variable(start)
    adam = optimizer.Adam([var], ["w"], 0.0, 0.99, 1e-8, "TrainD")
    for grad in grads[:2]:
        assert float(adam.apply([tf.constant(grad)], 0.01)) == 0.0
    # A non-finite gradient skips the whole update: weights, moments and step count stay.
    state = adam.state_arrays()
    skipped = adam.apply([tf.constant([np.nan, 0, 0, 0, 0], tf.float32)], 0.01)
    assert float(skipped) == 1.0
    after = adam.state_arrays()
    assert all(np.array_equal(state[key], after[key]) for key in state)
    np.testing.assert_allclose(var.numpy(), tf1_adam(start, grads[:2], 0.01), rtol=1e-6)
    for grad in grads[2:]:
        adam.apply([tf.constant(grad)], 0.01)
    np.testing.assert_allclose(var.numpy(), tf1_adam(start, grads, 0.01), rtol=1e-6, atol=1e-7)
    assert int(adam.steps.numpy()) == 4
    # reset() = a fresh optimizer (m, v, powers, step count), as reset_optimizer_state.
    adam.reset()
    assert int(adam.steps.numpy()) == 0 and float(adam.beta2_power.numpy()) == np.float32(0.99)
    restart = var.numpy()
    adam.apply([tf.constant(grads[0])], 0.01)
    np.testing.assert_allclose(var.numpy(), tf1_adam(restart, grads[:1], 0.01), rtol=1e-6)
    # The state round-trips.
    other = optimizer.Adam([tf.Variable(start)], ["w"], name="TrainD")
    other.load_state_arrays(adam.state_arrays())
    assert all(np.array_equal(value, other.state_arrays()[key])
               for key, value in adam.state_arrays().items())


def test_adam_skips_updates_whose_weights_or_moments_would_be_non_finite():
    # Finite gradients, but a learning rate that takes the weight past float32's range.
    var = tf.Variable(np.array([-3e38, 1.0], np.float32))
    adam = optimizer.Adam([var], ["w"], 0.0, 0.99, 1e-8, "TrainD")
    state = adam.state_arrays()
    assert float(adam.apply([tf.constant([1.0, 1.0])], 3e38)) == 1.0
    assert all(np.array_equal(state[key], adam.state_arrays()[key]) for key in state)
    np.testing.assert_array_equal(var.numpy(), np.array([-3e38, 1.0], np.float32))
    # A gradient whose square overflows: finite gradient, infinite second moment.
    assert float(adam.apply([tf.constant([0.0, 1e20])], 0.01)) == 1.0
    assert int(adam.steps.numpy()) == 0
    assert float(adam.apply([tf.constant([0.0, 1.0])], 0.01)) == 0.0 and int(adam.steps.numpy()) == 1


def test_a_state_with_non_finite_moments_is_refused(tmp_path):
    from stylegan_tf.training import resume, snapshots
    adam = optimizer.Adam([tf.Variable(np.zeros(3, np.float32))], ["w"], name="TrainD")
    arrays = adam.state_arrays()
    arrays["TrainD/v/w"] = np.array([0.0, np.nan, 0.0], np.float32)
    meta = dict(version=resume.STATE_VERSION, cur_nimg=0, cur_tick=0, total_time=0.0, step_counter=0)
    snapshots.save_state(str(tmp_path / "state.npz"), arrays, meta)
    with pytest.raises(ValueError, match="TrainD/v/w holds non-finite values"):
        resume.read_training_state(str(tmp_path / "state.npz"))


def test_lod_range_of():
    assert lod_range_of(3.0) == (3.0, 3.0)
    low, high = lod_range_of(2.4)
    assert 2.0 < low < 2.0 + 1e-12 and 3.0 - 1e-12 < high < 3.0


@pytest.fixture(scope="module")
def trainer():
    return fixtures.build_trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), "function",
                                  G_args=fixtures.TINY_G_ARGS, D_args=fixtures.TINY_D_ARGS)


def test_gs_beta(trainer):
    trainer.G_smoothing_kimg = 10.0
    try:
        assert trainer.gs_beta(32) == pytest.approx(0.99778, abs=1e-5)
        assert trainer.gs_beta(256) == pytest.approx(0.98241, abs=1e-5)
    finally:
        trainer.G_smoothing_kimg = 0.1


def test_steps_retrace_per_lod_phase_only_and_update_everything(trainer):
    rng = np.random.RandomState(3)
    G_before = fixtures.network_arrays(trainer)
    # 8x8 network: 4x4 stable (lod 1), fade (1 > lod > 0), 8x8 stable (lod 0).
    phases = [(4, 1.0)] * 2 + [(8, 0.75), (8, 0.5), (8, 0.25)] + [(8, 0.0)] * 3
    outputs = []
    for size, lod in phases:
        images = rng.randint(0, 256, [8, size, size, 3]).astype(np.uint8)
        d_out = trainer.d_step(images, np.zeros([8, 0], np.float32), lod, 0.002, 8)
        g_out = trainer.g_step(lod, 0.002, 8)
        outputs.append((d_out, g_out))
    assert trainer.trace_counts == {"D_step": 3, "G_step": 3}
    for d_out, g_out in outputs:
        assert np.isfinite(float(d_out["Loss/D_loss"])) and np.isfinite(float(g_out["Loss/G_loss"]))
        assert float(d_out["TrainD/overflow_frequency"]) == 0.0
        assert float(d_out["Loss/r1_penalty/count"]) == 8
    assert int(trainer.D_opt.steps.numpy()) == len(phases) == int(trainer.G_opt.steps.numpy())
    after = fixtures.network_arrays(trainer)
    # lod variables follow the schedule (Gs copies G's at each D step).
    assert after["G/lod"] == after["D/lod"] == after["Gs/lod"] == 0.0
    assert np.abs(after["G/dlatent_avg"]).max() > 0
    # Gs is a moving average of G: it moved, but is not G.
    name = "G_synthesis/8x8/Conv1/weight"
    assert not np.array_equal(after[f"Gs/{name}"], G_before[f"Gs/{name}"])
    assert not np.array_equal(after[f"Gs/{name}"], after[f"G/{name}"])


def test_gs_update_formula(trainer):
    """One D step: Gs <- G + (Gs - G) * beta with G unchanged by the D step."""
    images = np.random.RandomState(4).randint(0, 256, [8, 8, 8, 3]).astype(np.uint8)
    before = fixtures.network_arrays(trainer)
    trainer.d_step(images, np.zeros([8, 0], np.float32), 0.0, 0.002, 8)
    after = fixtures.network_arrays(trainer)
    beta = trainer.gs_beta(8)
    # Non-trainables are copied after the D step (which also tracked dlatent_avg).
    np.testing.assert_array_equal(after["Gs/dlatent_avg"], after["G/dlatent_avg"])
    assert not np.array_equal(after["G/dlatent_avg"], before["G/dlatent_avg"])
    for name in ("G_mapping/Dense0/weight", "G_synthesis/ToRGB_lod0/bias"):
        assert np.array_equal(after[f"G/{name}"], before[f"G/{name}"])
        expected = before[f"G/{name}"] + (before[f"Gs/{name}"] - before[f"G/{name}"]) * beta
        np.testing.assert_allclose(after[f"Gs/{name}"], expected, rtol=1e-6, atol=1e-7)


def test_non_finite_gradients_skip_the_update(trainer):
    images = np.random.RandomState(5).randint(0, 256, [8, 8, 8, 3]).astype(np.uint8)
    images_nan = tf.constant(images)
    D_weights = fixtures.network_arrays(trainer)
    steps = int(trainer.D_opt.steps.numpy())
    saved = trainer.D.dense1.weight.numpy()
    trainer.D.dense1.weight.assign(np.full_like(saved, np.inf))
    try:
        out = trainer.d_step(images_nan, np.zeros([8, 0], np.float32), 0.0, 0.002, 8)
        assert float(out["TrainD/overflow_frequency"]) == 1.0
        assert int(trainer.D_opt.steps.numpy()) == steps
        after = fixtures.network_arrays(trainer)
        for name in trainer.D.original_variables():
            if name != "4x4/Dense1/weight":
                assert np.array_equal(after[f"D/{name}"], D_weights[f"D/{name}"]), name
    finally:
        trainer.D.dense1.weight.assign(saved)


@pytest.mark.slow
def test_a_non_finite_gs_average_is_skipped(trainer):
    before = fixtures.network_arrays(trainer)
    name = "G_mapping/Dense0/weight"
    G_var, Gs_var = trainer.G.original_variables()[name], trainer.Gs.original_variables()[name]
    G_var.assign(np.full(G_var.shape, 3e38, np.float32))
    Gs_var.assign(np.full(Gs_var.shape, -3e38, np.float32))
    try:  # lerp(G, Gs, beta) = G + (Gs - G) * beta overflows although both are finite
        assert float(trainer._update_gs(tf.constant(0.5))) == 1.0
        np.testing.assert_array_equal(Gs_var.numpy(), np.float32(-3e38))
        other = "G_synthesis/4x4/Conv/weight"
        np.testing.assert_array_equal(trainer.Gs.original_variables()[other].numpy(), before[f"Gs/{other}"])
    finally:
        G_var.assign(before[f"G/{name}"])
        Gs_var.assign(before[f"Gs/{name}"])
    assert float(trainer._update_gs(tf.constant(0.5))) == 0.0


def test_a_tick_whose_updates_end_skipped_has_diverged():
    from stylegan_tf.training import stats
    means = {"TrainD/overflow_frequency": 0.98, "TrainG/overflow_frequency": 0.5,
             "TrainGs/overflow_frequency": 0.0}
    note, diverged = stats.skipped_updates(means, {"D": 4, "G": 1, "Gs": 0}, tick=2)
    assert note == " skipped D 98% G 50%" and diverged == "the last 4 or more D updates of tick 2 were skipped"
    assert stats.skipped_updates(means, {"D": 3, "G": 3})[1] is None
    means["TrainG/overflow_frequency"] = 1.0
    assert stats.skipped_updates(means, {"D": 4, "G": 9}, tick=1)[1] == \
        "every G update and the last 4 or more D updates of tick 1 were skipped"
    means["TrainD/overflow_frequency"] = 1.0
    assert stats.skipped_updates(means, {}, tick=5)[1] == "every D and G update of tick 5 was skipped"
    steps = [{"TrainD/overflow_frequency": flag} for flag in (1.0, 0.0, 1.0, 1.0)]
    assert stats.trailing_skips(steps)["D"] == 2


def test_xla_steps_match_tf_function_steps():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    plain = fixtures.build_trainer(strategy, "function", mirror_augment=True)
    xla = fixtures.build_trainer(strategy, "xla", mirror_augment=True)
    fixtures.copy_weights(plain, xla)
    rng = np.random.RandomState(6)
    batches = [rng.randint(0, 256, [8, 8, 8, 3]).astype(np.uint8) for _ in range(2)]
    # First step from identical weights: losses and gradients equal to float tolerance. D keeps its
    # weights (lr 0), so the G step's gradients come from identical networks too: after an Adam
    # step (beta1 0) each element moves by +-lr whatever its gradient's size, so the two Ds
    # would differ wherever a gradient is rounding-sized.
    first_plain = fixtures.run_steps(plain, batches[:1], [0.5], distribute=False, d_lrate=0.0)
    first_xla = fixtures.run_steps(xla, batches[:1], [0.5], distribute=False, d_lrate=0.0)
    np.testing.assert_allclose(first_xla, first_plain, rtol=1e-5)
    assert fixtures.gradient_difference(fixtures.optimizer_moments(plain),
                                        fixtures.optimizer_moments(xla)) < 1e-5
    # A second step (weights now differ by Adam-amplified rounding): still close.
    np.testing.assert_allclose(fixtures.run_steps(xla, batches[1:], [0.5], distribute=False),
                               fixtures.run_steps(plain, batches[1:], [0.5], distribute=False),
                               rtol=1e-3)
    assert xla.trace_counts == {"D_step": 1, "G_step": 1}


@pytest.mark.slow
def test_two_mirrored_replicas_give_the_update_of_one():
    result = subprocess.run([sys.executable, str(fixtures.REPO_ROOT / "tests" /
                                                 "training_fixtures.py"), "replicas"],
                            capture_output=True, text=True, timeout=300,
                            # One thread per op and deterministic kernels: what is compared is the
                            # replicas' arithmetic, not the order in which threads add partial sums.
                            env=dict(__import__("os").environ, TF_CPP_MIN_LOG_LEVEL="2",
                                     TF_DETERMINISTIC_OPS="1", TF_NUM_INTRAOP_THREADS="1",
                                     TF_NUM_INTEROP_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # First step from identical weights: equal to float tolerance. Later steps start from weights
    # that differ where Adam turned rounding noise of near-zero gradients into +-lr updates.
    np.testing.assert_allclose(report["losses_two"][0], report["losses_one"][0], rtol=1e-5)
    np.testing.assert_allclose(report["losses_two"], report["losses_one"], rtol=1e-3)
    first, *later = report["grad_rel_diff"]  # |g_2 - g_1| / |g_1| of all G (and D) gradients
    assert first < 1e-5 and max(later) < 2e-2
    assert report["updated_elements"] > 1000 and report["update_diff"] < 1e-6
    assert report["replica_values_equal"]
    assert report["steps"] == [3, 3]
