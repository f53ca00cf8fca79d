"""Adaptive augmentation in training: the update rule, what counts towards r_t, the tuning phase,
replicas, the state file, the configs and flags of StyleGAN2-ADA."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from stylegan_tf.training import config as config_lib
from stylegan_tf.training import phases, resume, trainer

from conftest import REPO_ROOT
from training_fixtures import TINY_D_ARGS, TINY_G_ARGS

G_ARGS = dict(TINY_G_ARGS, style_mixing_prob=0.0)  # StyleGAN2's G_main
D_ARGS = dict(TINY_D_ARGS, mbstd_group_size=1)


def next_p(p, signs_sum, signs_count, target, images, ada_kimg):
    """The TF release's update of p (`AdaptiveAugment.tune` with the 'rt' heuristic), in NumPy."""
    rt = signs_sum / signs_count if signs_count > 0 else 0.0
    return max(p + np.sign(rt - target) * images / (ada_kimg * 1000.0), 0.0)


def test_update_rule_is_the_releases():
    # p += sign(r_t - target) * images / (ada_kimg * 1000), p >= 0, no upper clamp.
    assert next_p(0.2, signs_sum=8, signs_count=10, target=0.6, images=128, ada_kimg=500) == \
        pytest.approx(0.2 + 128 / 500000)
    assert next_p(0.2, 2, 10, 0.6, 128, 500) == pytest.approx(0.2 - 128 / 500000)
    assert next_p(0.0001, -10, 10, 0.6, 128, 500) == 0.0
    assert next_p(1.0, 10, 10, 0.6, 128000, 100) == pytest.approx(2.28)
    assert next_p(0.3, 0, 0, 0.6, 128, 500) == pytest.approx(0.3 - 128 / 500000)  # no reals: r_t 0


def _ada_trainer(mode="ada", p=0.0, compile_mode="function", **config_changes):
    config = config_lib.TrainConfig(**{
        "G_func": "G_main", "D_func": "D_stylegan2", "loop": "stylegan2", "lazy_regularization": True,
        "G_args": dict(G_ARGS), "D_args": dict(D_ARGS),
        "G_loss": config_lib.LossConfig("G_logistic_ns"),
        "D_loss": config_lib.LossConfig("D_logistic_r1", {"gamma": 1.0}),
        "augment": config_lib.AugmentConfig(mode=mode, p=p, ada_kimg=1.0), **config_changes})
    return trainer.Trainer(tf.distribute.get_strategy(), config,
                           trainer.DatasetInfo(8, 3, 0, np.zeros([4, 0], np.float32)), compile_mode=compile_mode)


def _reals(batch=8):
    return np.random.RandomState(3).randint(0, 256, [batch, 8, 8, 3]).astype(np.uint8)


def test_main_d_steps_count_the_signs_and_r1_steps_do_not():
    t = _ada_trainer(p=0.5)
    labels = np.zeros([8, 0], np.float32)
    t.d_step(_reals(), labels, 0.0, 0.002, 8)
    count, total = t.augment.accumulator.numpy()
    assert count == 8 and abs(total) <= 8 and total == round(total)  # a sum of 8 signs
    t.d_reg_step(_reals(), labels, 0.0, 0.002)
    assert t.augment.accumulator.numpy()[0] == 8  # the lazy R1 step does not count (the TF release)
    t.d_step(_reals(), labels, 0.0, 0.002, 8, rounds=2)  # accumulated passes count every image once
    count, total = t.augment.accumulator.numpy()
    assert count == 16
    stats = t.tune_augment(8 * 4)
    rt = total / count
    assert float(stats["Augment/rt"]) == pytest.approx(rt)
    assert float(t.augment.p.numpy()) == pytest.approx(next_p(0.5, total, count, 0.6, 32, 1.0))
    assert t.augment.accumulator.numpy().tolist() == [0.0, 0.0]


def test_xla_compiled_mixed_precision_steps_with_augmentation():
    """A D step with D behind the pipeline, compiled by XLA (static warp padding), in bf16 (R1 through
    the pipeline under XLA: tests/unit/test_augment.py)."""
    t = _ada_trainer(p=0.8, compile_mode="xla", precision="bf16", num_fp16_res=2)
    assert t.augment.static_padding
    labels = np.zeros([8, 0], np.float32)
    outputs = [t.d_step(_reals(), labels, 0.0, 0.002, 8)]
    for output in outputs:
        assert all(np.isfinite(float(value)) for value in output.values()), output
    assert t.augment.accumulator.numpy()[0] == 8
    assert t.trace_counts.get("D_step") == 1


def test_fixed_p_reports_rt_but_keeps_p():
    t = _ada_trainer(mode="fixed", p=0.3)
    t.d_step(_reals(), np.zeros([8, 0], np.float32), 0.0, 0.002, 8)
    t.tune_augment(32)
    assert float(t.augment.p.numpy()) == pytest.approx(0.3)


def test_d_sees_augmented_images_and_noaug_does_not_build_a_pipeline():
    assert _ada_trainer(mode="noaug").augment is None
    t = _ada_trainer(mode="fixed", p=1.0)
    seen = []

    class Recorder:
        def __call__(self, images, labels, **kwargs):
            seen.append(images)
            return tf.zeros([images.shape[0], 1])

    images = tf.constant(np.random.RandomState(0).uniform(-1, 1, [4, 8, 8, 3]).astype(np.float32))
    d = t._seen_by_d(Recorder(), tf.constant([1, 2], tf.int64), 4, 0, "loss")
    d(images, None)
    d(images, None)  # each call draws its own parameters
    assert float(tf.reduce_mean(tf.abs(seen[0] - images))) > 0.05
    assert float(tf.reduce_mean(tf.abs(seen[0] - seen[1]))) > 0.05


def test_the_tuning_phase_runs_after_every_minibatch_repeats():
    config = config_lib.preset("demo-ada")
    phase = phases.training_phases(config)[-1]
    assert phase.name == "augment" and phase.interval == config.minibatch_repeats == 4
    assert [counter for counter in range(12) if phase.is_due(counter)] == [3, 7, 11]
    config.augment.mode = "noaug"
    assert all(p.name != "augment" for p in phases.training_phases(config))


def test_p_and_the_accumulator_are_saved_and_restored(tmp_path):
    t = _ada_trainer(p=0.25)
    t.d_step(_reals(), np.zeros([8, 0], np.float32), 0.0, 0.002, 8)
    accumulator = t.augment.accumulator.numpy().tolist()
    t.augment.p.assign(0.4375)
    pkl = resume.save_snapshot(t, str(tmp_path), "network-snapshot-000001.pkl", resume.LoopState(cur_nimg=1000), 0)
    fresh = _ada_trainer(p=0.0)
    inputs = resume.read_resume(pkl, fresh.config, lambda *a, **k: None)
    resume.load_resume(fresh, pkl, inputs, fresh.config, lambda *a, **k: None)
    assert float(fresh.augment.p.numpy()) == 0.4375
    assert fresh.augment.accumulator.numpy().tolist() == accumulator


def test_two_mirrored_replicas_augment_and_tune_as_one():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "training_fixtures.py"), "augmented_replicas"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    # Same augmentation of the same reals on 1 and 2 replicas: the same D loss (the G loss's fakes too).
    np.testing.assert_allclose(values["losses_two"], values["losses_one"], rtol=1e-4)
    counts = [acc[0] for acc in values["accumulators_two"]]
    assert counts == [4.0, 4.0]  # each replica counts its own reals ...
    total = sum(acc[1] for acc in values["accumulators_two"])
    assert total == values["accumulator_one"][1]  # ... and together they are the one replica's
    assert values["rt"][0] == values["rt"][1] == pytest.approx(total / 8)
    expected = next_p(0.5, total, 8, 0.6, 32, 1.0)
    assert values["p_two"] == pytest.approx([expected, expected])
    assert values["accumulators_after"] == [[0.0, 0.0], [0.0, 0.0]]


# ---- configs and flags --------------------------------------------------------------------------


def test_ada_cfgs_have_the_releases_numbers():
    paper256 = config_lib.preset("ada-paper256")
    assert (paper256.sched.minibatch_base, paper256.sched.minibatch_gpu_base) == (64, 8)
    assert paper256.D_args["mbstd_group_size"] == 8 and paper256.G_args["fmap_base"] == 8192
    assert paper256.D_loss.kwargs["gamma"] == 1.0 and paper256.G_smoothing_kimg == 20
    assert paper256.G_args["mapping_layers"] == 8 and paper256.augment.mode == "ada"
    assert (paper256.G_func, paper256.D_func) == ("G_main_ada", "D_main")  # the release's networks
    assert paper256.G_args["conv_clamp"] == paper256.D_args["conv_clamp"] == 256
    cifar = config_lib.preset("ada-cifar")
    assert cifar.G_loss.func_name == "G_logistic_ns" and cifar.D_args["architecture"] == "orig"
    assert cifar.G_args["mapping_layers"] == 2 and cifar.G_smoothing_rampup == 0.05
    # auto: SPEC-ADA's examples
    one256 = config_lib.ada_spec("auto", 256, 1)
    assert (one256["mb"], round(one256["gamma"], 2), one256["ema"]) == (16, 0.82, 5.0)
    one1024 = config_lib.ada_spec("auto", 1024, 1)
    assert one1024["mb"] == 4 and round(one1024["gamma"], 1) == 52.4
    eight256 = config_lib.ada_spec("auto", 256, 8)
    assert eight256["mb"] == 64 and round(eight256["gamma"], 2) == 0.20
    with pytest.raises(ValueError, match="--cfg=auto"):
        config_lib.preset("ada-auto")


def test_gs_half_life_ramp():
    t = _ada_trainer(G_smoothing_kimg=10.0, G_smoothing_rampup=0.05)
    assert t.gs_beta(32, nimg=0) == 0.0  # half-life 1e-8 images at the start
    assert t.gs_beta(32, nimg=64000) == pytest.approx(0.5 ** (32 / 3200))
    assert t.gs_beta(32, nimg=10 ** 7) == pytest.approx(0.5 ** (32 / 10000), rel=1e-6)


@pytest.mark.parametrize("G_func,D_func", [("G_main", "D_stylegan2"), ("G_main_ada", "D_main")])
def test_freezed_excludes_d_layers_from_the_input_side(G_func, D_func):
    t = _ada_trainer(D_freeze_layers=3, G_func=G_func, D_func=D_func)
    assert t.D_frozen == ("8x8/FromRGB", "8x8/Conv0", "8x8/Conv1_down")
    assert not any(name.startswith(t.D_frozen) for name in t.D_opt.names)
    assert any(name.startswith("8x8/Skip") for name in t.D_opt.names)
    if D_func == "D_main":  # recorded in its kwargs, and the frozen variables are not trainable
        assert t.D.static_kwargs["freeze_layers"] == 3
        assert not any(variable.trainable for name, variable in t.D.original_variables().items()
                       if name.startswith(t.D_frozen))
    with pytest.raises(ValueError, match="this D has 6 layers"):
        _ada_trainer(D_freeze_layers=7, G_func=G_func, D_func=D_func)


@pytest.mark.parametrize("changes", [dict(G_func="G_main_ada"), dict(D_func="D_main"),
                                     dict(G_func="G_main_ada", D_func="D_main", loop="stylegan")])
def test_ada_networks_train_together_in_the_stylegan2_loop(changes):
    config = {"G_func": "G_main", "D_func": "D_stylegan2", "loop": "stylegan2", **changes}
    with pytest.raises(ValueError, match="StyleGAN2-ADA's networks .G_func G_main_ada, D_func D_main. train together"):
        config_lib.TrainConfig(**config).validate()


@pytest.mark.parametrize("args,message", [
    (["--config=demo-ada", "--p=0.3"], "--p can only be given with --aug=fixed"),
    (["--config=demo-ada", "--aug=fixed"], "--aug=fixed needs --p"),
    (["--config=demo-ada", "--aug=noaug", "--augpipe=bgc"], "--augpipe cannot be given with --aug=noaug"),
    (["--config=demo-ada", "--aug=noaug", "--target=0.5"], "--target can only be given with --aug=ada"),
    (["--config=demo-ada", "--aug=fixed", "--p=1.5"], "must be between 0 and 1"),
    (["--config=demo-ada", "--cfg=paper256"], "give --config or --cfg, not both"),
])
def test_augment_flag_errors_are_one_line(tmp_path, args, message):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *args, "--dry_run"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr


def test_cfg_flags_resolve_the_releases_config(tmp_path):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), "--cfg=auto", "--dataset=frl-faces-64",
                             "--mirror", "--aug=fixed", "--p=0.2", "--augpipe=bgcfnc", "--freezed=2", "--dry_run"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads(result.stdout)
    assert config["augment"] == {"mode": "fixed", "pipe": "bgcfnc", "p": 0.2, "target": 0.6, "ada_kimg": 500.0}
    assert config["mirror_augment"] is True and config["D_freeze_layers"] == 2
    assert config["sched"]["minibatch_base"] == 32 and config["D_loss"]["kwargs"]["gamma"] == pytest.approx(0.0256)
