"""The training loops as data (`training.phases`): each release's phases, and the loop running them."""

import dataclasses
import types

import pytest

from stylegan_tf.training import config as config_lib
from stylegan_tf.training import loop, phases, resume, schedule, trainer


def test_stylegan_phases_are_d_repeats_then_g():
    config = config_lib.resolve_config("demo")
    config.D_repeats = 3
    assert phases.training_phases(config) == [
        phases.Phase("D", "D", new_reals=True, repeats=3, lrate="D"), phases.Phase("G", "G", lrate="G")]


def test_stylegan2_phases_follow_the_lazy_regularizers():
    config = config_lib.resolve_config("config-e")
    assert [(p.name, p.interval, p.new_reals) for p in phases.training_phases(config)] == [
        ("G", 1, False), ("G_reg", 4, False), ("D", 1, True), ("D_reg", 16, False)]
    assert all(p.lrate == "G" for p in phases.training_phases(config))  # StyleGAN2 feeds G's rate only
    config.D_loss = config_lib.LossConfig("D_logistic")  # no R1: no D regularization phase
    assert [p.name for p in phases.training_phases(config)] == ["G", "G_reg", "D"]
    config.lazy_regularization = False
    assert [p.name for p in phases.training_phases(config)] == ["G", "D"]
    with pytest.raises(ValueError, match="loop must be one of stylegan, stylegan2"):
        phases.training_phases(dataclasses.replace(config, loop="stylegan3"))


class _RecordingTrainer:
    G_ratio = D_ratio = 1.0
    scaled_lrate = staticmethod(trainer.Trainer.scaled_lrate)

    def __init__(self):
        self.calls = []

    def run_phase(self, name, lod, lrate, minibatch, rounds=1, reals=None, labels=None, nimg=None):
        self.calls.append((name, lrate, rounds, reals, nimg))
        return {}


def test_the_stylegan_loop_runs_its_phases():
    config = config_lib.resolve_config("demo")
    config.D_repeats, config.minibatch_repeats = 2, 3
    recorder, state = _RecordingTrainer(), resume.LoopState()
    run = loop._TrainingRun(config, types.SimpleNamespace(num_replicas_in_sync=1), recorder, None, state, None,
                            print, 0.0)
    run.training_set = types.SimpleNamespace(resolution_log2=5)
    sched = run.schedule_at(0)
    batches = iter(range(100))
    run.run_minibatches(sched, ((batch, None) for batch in batches))
    assert [call[0] for call in recorder.calls] == ["D", "D", "G"] * 3
    assert [call[3] for call in recorder.calls if call[0] == "D"] == list(range(6))  # new reals each
    assert all(call[1] == (sched.D_lrate if call[0] == "D" else sched.G_lrate) and call[2] == 1
               for call in recorder.calls)
    assert state.cur_nimg == 6 * sched.minibatch and state.mb_counter == 3
    assert run.stats.scalars["TrainD/learning_rate"] == (pytest.approx(6 * sched.D_lrate), 6)
    assert run.stats.scalars["TrainG/learning_rate"] == (pytest.approx(3 * sched.G_lrate), 3)


def test_the_ada_loop_tunes_p_after_every_minibatch_repeats():
    config = config_lib.resolve_config("demo-ada")
    recorder, state = _RecordingTrainer(), resume.LoopState()
    run = loop._TrainingRun(config, types.SimpleNamespace(num_replicas_in_sync=1), recorder, None, state, None,
                            print, 0.0)
    run.training_set = types.SimpleNamespace(resolution_log2=5)
    sched = run.schedule_at(0)
    for _ in range(2):
        run.run_minibatches(sched, ((batch, None) for batch in range(100)))
    names = [call[0] for call in recorder.calls]
    assert names[:9] == ["G", "G_reg", "D", "D_reg", "G", "D", "G", "D", "G"]
    assert [i for i, name in enumerate(names) if name == "augment"] == [10, 20]  # after minibatches 4 and 8
    # The D steps of a group of repeats share the Gs ramp's image count, as the release's.
    assert {call[4] for call in recorder.calls[:11] if call[0] == "D"} == {0}
    assert {call[4] for call in recorder.calls[11:] if call[0] == "D"} == {4 * sched.minibatch}


def test_lod_range_promises_the_levels_a_lod_blends():
    assert schedule.lod_range_of(2.0) == (2.0, 2.0)
    low, high = schedule.lod_range_of(1.5)
    assert 1.0 < low < 1.5 < high < 2.0
