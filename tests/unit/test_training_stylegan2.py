"""StyleGAN2 training: the presets of the release's run_training.py, lazy regularization (which
minibatches regularize, the x interval scaling, the Adam lr/beta adjustment, one Adam state for the
main and the regularization steps), the path-length running mean across steps and across resume,
and gradient accumulation over passes (StyleGAN2's minibatch_gpu)."""
import dataclasses
import types

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf.training import config as config_lib
from stylegan_tf.training import loop, resume, schedule, trainer

# Small deterministic StyleGAN2 networks at 8x8: stored noise, no style mixing, no mbstd groups.
SG2_G_ARGS = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16, mapping_layers=2,
                  mapping_fmaps=16, randomize_noise=False, style_mixing_prob=None)
SG2_D_ARGS = dict(fmap_base=64, fmap_max=16, mbstd_group_size=1)


# ---- presets -------------------------------------------------------------------------------------

def test_config_f_is_the_release_base_config():
    config = config_lib.resolve_config("config-f")
    assert (config.G_func, config.D_func, config.loop) == ("G_main", "D_stylegan2", "stylegan2")
    assert config.G_args == {} and config.D_args == {}
    assert config.G_loss == config_lib.LossConfig("G_logistic_ns_pathreg")
    assert config.D_loss == config_lib.LossConfig("D_logistic_r1", {"gamma": 10.0})
    assert config.lazy_regularization and (config.G_reg_interval, config.D_reg_interval) == (4, 16)
    sched = config.sched
    assert sched.lod_initial_resolution is None
    assert (sched.minibatch_base, sched.minibatch_gpu_base) == (32, 4)
    assert (sched.G_lrate_base, sched.D_lrate_base, sched.tick_kimg_base) == (0.002, 0.002, 4)
    assert sched.tick_kimg_dict == {8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6, 1024: 4}
    assert (config.image_snapshot_ticks, config.network_snapshot_ticks) == (10, 10)
    assert config.desc == "stylegan2-ffhq-config-f" and config.mirror_augment
    assert config.grid.size == "8k" and config_lib.grid_size("8k", 1024) == (7, 4)
    assert config_lib.grid_size("8k", 256) == (30, 16)


@pytest.mark.parametrize("letter, G_func, D_func, synthesis, lazy, G_loss, gamma, growing", [
    ("a", "G_style", "D_basic", None, False, "G_logistic_ns", 10.0, True),
    ("b", "G_main", "D_stylegan", "G_synthesis_stylegan_revised", False, "G_logistic_ns", 10.0, True),
    ("c", "G_main", "D_stylegan", "G_synthesis_stylegan_revised", True, "G_logistic_ns", 10.0, True),
    ("d", "G_main", "D_stylegan", "G_synthesis_stylegan_revised", True, "G_logistic_ns_pathreg", 10.0,
     True),
    ("e", "G_main", "D_stylegan2", None, True, "G_logistic_ns_pathreg", 100.0, False),
])
def test_configs_a_to_e(letter, G_func, D_func, synthesis, lazy, G_loss, gamma, growing):
    config = config_lib.resolve_config(f"config-{letter}")
    assert (config.G_func, config.D_func, config.lazy_regularization) == (G_func, D_func, lazy)
    assert config.G_args.get("synthesis_func") == synthesis
    assert config.G_loss.func_name == G_loss and config.D_loss.kwargs == {"gamma": gamma}
    fmap_base = None if letter == "a" else 8192
    assert config.G_args.get("fmap_base") == fmap_base == config.D_args.get("fmap_base")
    if growing:
        sched = config.sched
        assert sched.lod_initial_resolution == 8
        assert sched.minibatch_dict == {8: 256, 16: 128, 32: 64, 64: 32}
        assert sched.minibatch_gpu_dict == {8: 32, 16: 16, 32: 8, 64: 4}
        assert sched.G_lrate_dict == {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
        state = schedule.training_schedule(0, 10, 1, **dataclasses.asdict(sched))
        assert (state.lod, state.minibatch, state.minibatch_gpu, state.G_lrate) == (7.0, 256, 32, 0.001)
    else:
        assert config.sched.lod_initial_resolution is None


def test_table2_architectures_datasets_and_bad_names():
    config = config_lib.resolve_config("car-config-e-Gorig-Dskip")
    assert config.G_args["architecture"] == "orig" and config.D_args["architecture"] == "skip"
    assert config.dataset.tfrecord_dir == "car" and config.total_kimg == 57000
    assert config.desc == "stylegan2-car-config-e-Gorig-Dskip"
    church = config_lib.resolve_config("church-config-f")
    assert church.D_loss.kwargs["gamma"] == 100.0 and church.total_kimg == 88000
    for name, message in (("config-f-Gorig-Dskip", "Table 2"), ("config-e-Gfoo-Dskip", "Table 2"),
                          ("config-g", "Unknown config")):
        with pytest.raises(ValueError, match=message):
            config_lib.resolve_config(name)
    names, _ = config_lib.preset_names()
    assert {"demo-sg2", "config-a", "config-f", "config-e-Gresnet-Dorig"} <= set(names)


def test_no_growing_schedule_and_minibatch_gpu():
    sched = dataclasses.asdict(config_lib.resolve_config("config-e").sched)
    for kimg in (0, 500, 20000):
        state = schedule.training_schedule(kimg * 1000, 10, 1, **sched)
        assert (state.lod, state.resolution, state.minibatch, state.minibatch_gpu) == (0.0, 1024, 32, 4)
        assert state.tick_kimg == 4
    assert schedule.training_schedule(0, 6, 1, **sched).tick_kimg == 16  # 64x64
    # 0 = the whole per-replica share in one pass (StyleGAN's behaviour)
    assert schedule.training_schedule(0, 5, 2, minibatch_base=16).minibatch_gpu == 8


def test_original_config_text_names_the_stylegan2_build_functions():
    text = config_lib.original_config_text(config_lib.resolve_config("config-d"))
    assert "'func_name': 'training.networks_stylegan2.G_main'" in text
    assert "'func_name': 'training.networks_stylegan2.D_stylegan'" in text
    text = config_lib.original_config_text(config_lib.resolve_config("config-a"))
    assert "'func_name': 'training.networks_stylegan.G_style'" in text


# ---- the loop: which minibatches regularize, step order -------------------------------------------

class _RecordingTrainer:
    """Stands in for a Trainer: records the loop's calls."""

    def __init__(self):
        self.calls = []
        self.G_ratio, self.D_ratio = 0.8, 16 / 17
        self.scaled_lrate = trainer.Trainer.scaled_lrate

    def g_step(self, lod, lrate, minibatch, rounds):
        self.calls.append(("G", lrate, rounds))
        return {}

    def g_reg_step(self, lod, lrate, minibatch, rounds):
        self.calls.append(("G_reg", lrate, rounds))
        return {}

    def d_step(self, reals, labels, lod, lrate, minibatch, rounds, nimg=None):
        self.calls.append(("D", lrate, rounds, reals))
        return {}

    def d_reg_step(self, reals, labels, lod, lrate, rounds):
        self.calls.append(("D_reg", lrate, rounds, reals))
        return {}

    run_phase = trainer.Trainer.run_phase  # the real dispatch, onto the recording steps above
    augment = None


def _recording_run(config, mb_counter=0, replicas=1):
    strategy = types.SimpleNamespace(num_replicas_in_sync=replicas)
    state = resume.LoopState(mb_counter=mb_counter)
    recorder = _RecordingTrainer()
    run = loop._TrainingRun(config, strategy, recorder, None, state, None, print, 0.0)
    return run, recorder, state


def test_lazy_regularization_schedule_and_order():
    config = config_lib.resolve_config("config-e")
    config.minibatch_repeats = 4
    run, recorder, state = _recording_run(config)
    sched = schedule.training_schedule(0, 5, 1, **dataclasses.asdict(config.sched))
    batches = iter(range(100))
    for _ in range(5):  # 20 minibatches
        run.run_minibatches(sched, ((b, None) for b in batches))
    names = [call[0] for call in recorder.calls]
    minibatches, current = [], None
    for name in names:
        if name == "G":
            current = []
            minibatches.append(current)
        current.append(name)
    assert len(minibatches) == 20 and state.mb_counter == 20 and state.cur_nimg == 20 * 32
    for index, steps in enumerate(minibatches):
        expected = ["G"] + (["G_reg"] if index % 4 == 0 else []) + ["D"] + \
                   (["D_reg"] if index % 16 == 0 else [])
        assert steps == expected, index
    # D trains at G's learning rate (StyleGAN2 feeds only G_lrate); 32 / (4 * 1) = 8 passes.
    assert all(call[1] == sched.G_lrate and call[2] == 8 for call in recorder.calls)
    # The D regularization uses the reals of the D step it follows.
    for before, after in zip(recorder.calls, recorder.calls[1:]):
        if after[0] == "D_reg":
            assert before[0] == "D" and before[3] is after[3]


def test_lazy_counter_continues_and_non_lazy_never_regularizes():
    config = config_lib.resolve_config("config-e")
    run, recorder, _ = _recording_run(config, mb_counter=15, replicas=2)
    sched = schedule.training_schedule(0, 5, 2, **dataclasses.asdict(config.sched))
    batches = iter(range(10))
    run.run_minibatches(sched, ((b, None) for b in batches))
    names = [call[0] for call in recorder.calls]
    # minibatches 15, 16, 17, 18: G reg at 16, D reg at 16; 32 / (4 * 2 replicas) = 4 passes
    assert names == ["G", "D", "G", "G_reg", "D", "D_reg", "G", "D", "G", "D"]
    assert recorder.calls[0][2] == 4
    config = config_lib.resolve_config("config-b")
    run, recorder, _ = _recording_run(config)
    sched = schedule.training_schedule(0, 5, 1, **dataclasses.asdict(config.sched))
    run.run_minibatches(sched, ((b, None) for b in iter(range(10))))
    assert [call[0] for call in recorder.calls] == ["G", "D"] * 4


def test_minibatch_not_divisible_by_passes_is_an_error():
    config = config_lib.resolve_config("config-e")
    config.sched.minibatch_gpu_base = 5
    run, _, _ = _recording_run(config)
    run.training_set = types.SimpleNamespace(resolution_log2=5)
    with pytest.raises(ValueError, match="not a multiple of 5 samples per pass"):
        run.schedule_at(0)


# ---- the trainer -------------------------------------------------------------------------------

def _sg2_trainer(G_reg_interval=4, D_reg_interval=16, lazy=True, G_loss="G_logistic_ns_pathreg",
                 resolution=8, labels=0):
    config = _sg2_config(G_loss=config_lib.LossConfig(G_loss), lazy_regularization=lazy,
                         G_reg_interval=G_reg_interval, D_reg_interval=D_reg_interval)
    dataset = trainer.DatasetInfo(resolution, 3, labels, np.eye(max(labels, 1), dtype=np.float32)[:, :labels])
    return trainer.Trainer(tf.distribute.get_strategy(), config, dataset, compile_mode="function")


def _sg2_config(**changes):
    """The tiny StyleGAN2 (config E-like) training config of these tests."""
    fields = dict(G_func="G_main", D_func="D_stylegan2", loop="stylegan2", G_args=dict(SG2_G_ARGS),
                  D_args=dict(SG2_D_ARGS), G_loss=config_lib.LossConfig("G_logistic_ns_pathreg"),
                  D_loss=config_lib.LossConfig("D_logistic_r1", {"gamma": 10.0}), G_smoothing_kimg=0.1,
                  lazy_regularization=True)
    return config_lib.TrainConfig(**{**fields, **changes})


def _moments(opt):
    # With beta1 = 0, Adam's m after a step is exactly that step's gradient.
    return {name: np.array(m.numpy()) for name, m in zip(opt.names, opt.m)}


def _copy(source, target):
    for name in ("G", "D", "Gs"):
        trainer.copy_network_variables(getattr(source, name), getattr(target, name), name)


def _reals(batch=8, resolution=8, seed=3):
    return np.random.RandomState(seed).randint(0, 256, [batch, resolution, resolution, 3]).astype(np.uint8)


def test_lazy_optimizers_scale_lr_and_betas_as_the_release():
    lazy = _sg2_trainer()
    assert lazy.G_opt.beta1 == 0.0 and lazy.D_opt.beta1 == 0.0
    assert lazy.G_opt.beta2 == pytest.approx(0.99 ** 0.8, abs=0) and \
        f"{lazy.G_opt.beta2:.6f}" == "0.991992"
    assert f"{lazy.D_opt.beta2:.6f}" == "0.990585"
    assert lazy.scaled_lrate(0.002, lazy.G_ratio) == float(np.float32(0.002) * np.float32(0.8))
    assert f"{lazy.scaled_lrate(0.002, lazy.D_ratio):.8f}" == "0.00188235"
    eager = _sg2_trainer(lazy=False)
    assert eager.G_opt.beta2 == 0.99 and eager.scaled_lrate(0.002, eager.G_ratio) == 0.002


def test_regularization_steps_are_scaled_by_the_interval_and_share_adam():
    reals = _reals()
    a, b = _sg2_trainer(G_reg_interval=4, D_reg_interval=16), _sg2_trainer(G_reg_interval=2,
                                                                            D_reg_interval=4)
    _copy(a, b)
    for t in (a, b):
        t.d_step(reals, np.zeros([8, 0], np.float32), 0.0, 0.0, 8)  # lr 0: D stays as copied
        t.d_reg_step(reals, np.zeros([8, 0], np.float32), 0.0, 0.002)
        t.g_reg_step(0.0, 0.002, 8)
    for opt_a, opt_b, ratio in ((a.D_opt, b.D_opt, 4.0), (a.G_opt, b.G_opt, 2.0)):
        moments_a, moments_b = _moments(opt_a), _moments(opt_b)
        checked = 0
        for name, m_a in moments_a.items():
            m_b = moments_b[name]
            if np.abs(m_b).max() > 1e-6:
                np.testing.assert_allclose(m_a, ratio * m_b, rtol=2e-3, atol=1e-7 * np.abs(m_a).max())
                checked += 1
        assert checked >= 5
    # The D regularization step is one more step of D's Adam (one state, one step counter).
    assert int(a.D_opt.steps.numpy()) == 2 and int(a.G_opt.steps.numpy()) == 1
    # R1 is the lazy step's only term: the reals' scores (as the release records them) but no fake
    # scores, and the main step has no penalty.
    outputs = a.d_reg_step(reals, np.zeros([8, 0], np.float32), 0.0, 0.002)
    assert set(outputs) == {"Loss/D_reg", "Loss/gradient_penalty/sum", "Loss/gradient_penalty/count",
                            "Loss/scores/real/sum", "Loss/scores/real/count", "RegD/overflow_frequency"}
    assert float(outputs["Loss/D_reg"]) == pytest.approx(
        16 * float(outputs["Loss/gradient_penalty/sum"]) / 8 * 10.0 * 0.5, rel=1e-5)


def test_path_length_mean_runs_across_steps():
    t = _sg2_trainer()
    assert t.pl_mean_values().tolist() == [0.0]
    expected = 0.0
    for _ in range(3):
        outputs = t.g_reg_step(0.0, 0.002, 8)
        mean_length = float(outputs["Loss/pl_lengths/sum"]) / float(outputs["Loss/pl_lengths/count"])
        assert float(outputs["Loss/pl_lengths/count"]) == 4  # minibatch 8 // pl_minibatch_shrink 2
        expected = expected + 0.01 * (mean_length - expected)
        assert t.pl_mean_values()[0] == pytest.approx(expected, rel=1e-5)
    assert expected > 0


def test_accumulated_passes_give_the_gradient_of_the_whole_minibatch():
    reals = _reals()
    labels = np.zeros([8, 0], np.float32)
    one, two = _sg2_trainer(), _sg2_trainer()
    _copy(one, two)
    for rounds, t in ((1, one), (2, two)):
        t.d_step(reals, labels, 0.0, 0.002, 8, rounds)
        t.g_step(0.0, 0.002, 8, rounds)
    for opt_one, opt_two in ((one.D_opt, two.D_opt), (one.G_opt, two.G_opt)):
        for name, m_one in _moments(opt_one).items():
            m_two = _moments(opt_two)[name]
            scale = max(np.abs(m_one).max(), 1e-12)
            assert np.abs(m_one - m_two).max() <= 1e-4 * scale, (opt_one.name, name)
    assert int(two.D_opt.steps.numpy()) == 1 == int(two.G_opt.steps.numpy())
    assert two.trace_counts.get("D_grads") == 1 and two.trace_counts.get("D_apply") == 1


def test_resume_restores_path_length_mean_counters_and_adam(tmp_path):
    t = _sg2_trainer()
    reals, labels = _reals(), np.zeros([8, 0], np.float32)
    t.g_step(0.0, 0.002, 8)
    t.g_reg_step(0.0, 0.002, 8)
    t.d_step(reals, labels, 0.0, 0.002, 8)
    t.d_reg_step(reals, labels, 0.0, 0.002)
    state = resume.LoopState(cur_nimg=8, cur_tick=0, prev_lod=0.0, mb_counter=1)
    pkl = resume.save_snapshot(t, str(tmp_path), "network-snapshot-000000.pkl", state, 0)
    pl_mean = t.pl_mean_values()
    assert pl_mean[0] > 0

    fresh = _sg2_trainer()
    config = config_lib.resolve_config("config-e")
    inputs = resume.read_resume(pkl, config, lambda message: None)
    restored = resume.load_resume(fresh, pkl, inputs, config, lambda message: None)
    assert (restored.cur_nimg, restored.mb_counter) == (8, 1)
    np.testing.assert_array_equal(fresh.pl_mean_values(), pl_mean)
    for name, value in t.G_opt.state_arrays().items():
        np.testing.assert_array_equal(fresh.G_opt.state_arrays()[name], value)
    assert int(fresh.D_opt.steps.numpy()) == 2
    # The pickle is the release's format: version 4 state of G_main / D_stylegan2.
    from stylegan_tf import legacy
    G, D, Gs = legacy.load_networks(pkl)
    assert type(G).FUNC_NAME == "G_main" and type(D).FUNC_NAME == "D_stylegan2"


def test_train_cli_gamma_and_dry_run(tmp_path):
    import json

    import training_fixtures as fixtures
    result = fixtures.run_train(["--config=config-e", "--gamma=5", "--precision=bf16", "--num_fp16_res=3",
                                 "--dry_run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    resolved = json.loads(result.stdout)
    assert resolved["D_loss"] == {"func_name": "D_logistic_r1", "kwargs": {"gamma": 5.0}}
    assert (resolved["precision"], resolved["num_fp16_res"], resolved["conv_clamp"]) == ("bf16", 3, 256.0)
    assert resolved["loop"] == "stylegan2" and resolved["sched"]["lod_initial_resolution"] is None
    result = fixtures.run_train(["--config=demo", "--gamma=3", "--dry_run"], cwd=tmp_path)
    assert json.loads(result.stdout)["D_loss"]["kwargs"] == {"r1_gamma": 3.0}
    result = fixtures.run_train(["--config=ffhq-1gpu-wgangp", "--gamma=3", "--dry_run"], cwd=tmp_path)
    assert result.returncode == 1 and "D_wgan_gp has none" in result.stderr
    assert "Traceback" not in result.stderr
    result = fixtures.run_train(["--config=config-g", "--dry_run"], cwd=tmp_path)
    assert result.returncode == 1 and "Unknown config 'config-g'" in result.stderr


@pytest.mark.slow
def test_xla_stylegan2_steps_match_tf_function_steps():
    """All four StyleGAN2 steps (with 2 accumulated passes) compiled with XLA give the losses,
    path-length mean and gradients of the plain tf.function steps."""
    def make(mode):
        return trainer.Trainer(tf.distribute.get_strategy(), _sg2_config(),
                               trainer.DatasetInfo(8, 3, 0, np.zeros([1, 0], np.float32)), compile_mode=mode)
    plain, xla = make("function"), make("xla")
    _copy(plain, xla)
    reals, labels = _reals(), np.zeros([8, 0], np.float32)
    losses = []
    for t in (plain, xla):
        outputs = [t.g_step(0.0, 0.002, 8, 2), t.g_reg_step(0.0, 0.002, 8, 2),
                   t.d_step(reals, labels, 0.0, 0.002, 8, 2), t.d_reg_step(reals, labels, 0.0, 0.002, 2)]
        losses.append({key: float(value) for out in outputs for key, value in out.items()
                       if key.startswith("Loss/")})
    assert losses[0].keys() == losses[1].keys() and len(losses[0]) >= 12
    for key, value in losses[0].items():
        assert losses[1][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert xla.pl_mean_values()[0] == pytest.approx(plain.pl_mean_values()[0], rel=1e-5)
    for opt_plain, opt_xla in ((plain.G_opt, xla.G_opt), (plain.D_opt, xla.D_opt)):
        for m_plain, m_xla in zip(opt_plain.m, opt_xla.m):
            # Adam's m holds the summed gradients; XLA reorders those sums, which moved a scalar
            # noise strength's by 1.5e-5 relative on another CPU: 1e-4 as for the replica test above.
            scale = np.abs(m_plain.numpy()).max() + 1e-12
            assert np.abs(m_plain.numpy() - m_xla.numpy()).max() <= 1e-4 * scale


@pytest.mark.parametrize("kernel", [[1, 1], (1, 3, 3, 1), [[1, 2, 1], [2, 4, 2], [1, 2, 1]]])
def test_snapshots_of_networks_with_list_kwargs_load_and_keep_them(tmp_path, kernel):
    # --set=G_args.resample_kernel=[...] (and a resume from such a pickle) must snapshot.
    config = _sg2_config()
    config.G_args.update(resample_kernel=kernel, architecture="resnet")
    config.D_args.update(resample_kernel=kernel)
    t = trainer.Trainer(tf.distribute.get_strategy(), config, trainer.DatasetInfo(8, 3, 0, np.zeros([1, 0])),
                        compile_mode="function")
    pkl = resume.save_snapshot(t, str(tmp_path), "network-snapshot-000000.pkl", resume.LoopState(), 0)
    from stylegan_tf import legacy
    G, D, Gs = legacy.load_networks(pkl)
    for net in (G, D, Gs, G.synthesis):
        assert net.static_kwargs["resample_kernel"] == kernel
        assert type(net.static_kwargs["resample_kernel"]) is type(kernel)
    latents = np.random.RandomState(0).randn(2, G.latent_size).astype(np.float32)
    np.testing.assert_array_equal(Gs(latents, None, randomize_noise=False).numpy(),
                                  t.Gs(latents, None, randomize_noise=False).numpy())


def test_scores_series_are_the_releases():
    """'Loss/scores/fake' is the D step's alone and 'Loss/scores/real' the D and R1 steps' (the
    release's autosummaries), so tick means compare with the release's logs."""
    t = _sg2_trainer()
    g_out, reg_out = t.g_step(0.0, 0.002, 8), t.g_reg_step(0.0, 0.002, 8)
    assert not [key for key in {**g_out, **reg_out} if key.startswith("Loss/scores")]
    reals, labels = _reals(), np.zeros([8, 0], np.float32)
    d_out = t.d_step(reals, labels, 0.0, 0.002, 8)
    assert {"Loss/scores/real/sum", "Loss/scores/fake/sum"} <= set(d_out)
    d_reg_out = t.d_reg_step(reals, labels, 0.0, 0.002)
    assert float(d_reg_out["Loss/scores/real/count"]) == 8 and "Loss/scores/fake/sum" not in d_reg_out


def test_dry_run_shows_the_effective_loss_and_regularization_arguments(tmp_path):
    import json

    import training_fixtures as fixtures
    result = fixtures.run_train(["--config=config-f", "--dry_run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    view = json.loads(result.stdout)
    assert view["G_loss"] == {"func_name": "G_logistic_ns_pathreg", "kwargs": {}}  # what the preset sets
    assert view["effective"]["G_loss"]["kwargs"] == {"pl_weight": 2.0, "pl_decay": 0.01, "pl_minibatch_shrink": 2}
    assert view["effective"]["D_loss"]["kwargs"] == {"gamma": 10.0}
    assert view["effective"]["G_regularization"] == "lazy: every 4 minibatches, scaled by 4"
    assert view["effective"]["D_regularization"] == "lazy: every 16 minibatches, scaled by 16"
    assert config_lib.from_dict(view) == config_lib.resolve_config("config-f")  # the view loads as a config
    result = fixtures.run_train(["--config=config-b", "--set=D_loss.kwargs.r1_gamma=3", "--dry_run"], cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "D_logistic_r1 takes no argument r1_gamma (it takes gamma)" in result.stderr
    view = json.loads(fixtures.run_train(["--config=config-b", "--dry_run"], cwd=tmp_path).stdout)
    assert view["effective"]["D_regularization"] == "every minibatch, in the main step"
    assert view["effective"]["G_regularization"] is None


def test_xla_is_one_tri_state_flag(tmp_path):
    import json

    import training_fixtures as fixtures
    for value, resolved in (("auto", "auto"), ("on", True), ("off", False)):
        result = fixtures.run_train(["--config=demo", f"--xla={value}", "--dry_run"], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["xla"] == resolved
    result = fixtures.run_train(["--config=demo", "--noxla", "--dry_run"], cwd=tmp_path)
    assert result.returncode == 1 and "Unknown command line flag 'noxla'" in result.stderr


def test_devices_are_logged_and_a_missing_gpu_is_warned():
    from stylegan_tf.training import distribute
    description = distribute.describe_devices(tf.distribute.OneDeviceStrategy("/cpu:0"))
    if tf.config.list_physical_devices("GPU"):
        assert description == "/device:CPU:0"
        assert distribute.missing_gpu_warning("mirrored", 8) is None
        return
    assert description == "/device:CPU:0 (no GPU visible)"
    warning = distribute.missing_gpu_warning("mirrored", 8)
    assert "--strategy=mirrored and a config written for 8 GPUs" in warning
    assert "pip install -r requirements-gpu.txt" in warning
    assert "--strategy=multiworker" in distribute.missing_gpu_warning("multiworker", 1)
    assert distribute.missing_gpu_warning("auto", 1) is None
    assert distribute.missing_gpu_warning("one_device", 1) is None


def test_outdir_is_the_runs_folder_and_result_dir_its_alias(tmp_path):
    import json

    import training_fixtures as fixtures
    for flag in ("--outdir", "--result_dir"):  # --result_dir: the original's name, kept as an alias
        result = fixtures.run_train(["--config=demo", f"{flag}={tmp_path / 'runs'}", "--dry_run"], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["result_dir"] == str(tmp_path / "runs")
