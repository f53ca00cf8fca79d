"""The training schedule against an independent transcription of the original's formula."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from stylegan_tf.training import config as config_lib
from stylegan_tf.training import schedule

from conftest import REPO_ROOT


def original_schedule(nimg, log2_res, gpus, s):
    """The original `training_schedule()` (training/training_loop.py), written out again from
    its definition with the sched dict `s` (ScheduleConfig as dict)."""
    kimg = nimg / 1000.0
    period = s["lod_training_kimg"] + s["lod_transition_kimg"]
    phase = int(np.floor(kimg / period)) if period > 0 else 0
    into_phase = kimg - phase * period
    if s["lod_initial_resolution"] is None:  # StyleGAN2's no-growing configs
        lod = 0.0
    else:
        lod = log2_res - np.floor(np.log2(s["lod_initial_resolution"])) - phase
        if s["lod_transition_kimg"] > 0:
            lod -= max(into_phase - s["lod_training_kimg"], 0.0) / s["lod_transition_kimg"]
        lod = max(lod, 0.0)
    res = 2 ** (log2_res - int(np.floor(lod)))
    mb = s["minibatch_dict"].get(res, s["minibatch_base"])
    mb -= mb % gpus
    if res in s["max_minibatch_per_gpu"]:
        mb = min(mb, s["max_minibatch_per_gpu"][res] * gpus)
    ramp = min(kimg / s["lrate_rampup_kimg"], 1.0) if s["lrate_rampup_kimg"] > 0 else 1.0
    mb_gpu = s["minibatch_gpu_dict"].get(res, s["minibatch_gpu_base"]) or mb // gpus
    return (lod, res, mb, mb_gpu, s["G_lrate_dict"].get(res, s["G_lrate_base"]) * ramp,
            s["D_lrate_dict"].get(res, s["D_lrate_base"]) * ramp,
            s["tick_kimg_dict"].get(res, s["tick_kimg_base"]))


def all_presets():
    names, variants = config_lib.preset_names()
    return names + ["ffhq-8gpu-wgangp", "celebahq-2gpu-wgangp", "car-4gpu-tuned-baseline",
                     "car-config-a", "horse-config-f"]


def preset_resolution(config):
    return config.dataset.resolution or config_lib.KNOWN_RESOLUTIONS[config.dataset.tfrecord_dir]


@pytest.mark.parametrize("name", all_presets())
def test_schedule_matches_original_formula_on_dense_grid(name):
    config = config_lib.preset(name)
    sched = config_lib.to_dict(config)["sched"]
    log2_res = int(np.log2(preset_resolution(config)))
    # Dense grid (2001 points over the run) plus every phase boundary and its neighbours.
    period = sched["lod_training_kimg"] + sched["lod_transition_kimg"]
    nimgs = set(np.linspace(0, config.total_kimg * 1000, 2001).astype(np.int64).tolist())
    for boundary in np.arange(0, config.total_kimg + 1, sched["lod_training_kimg"] or 1):
        nimgs.update(int(boundary * 1000) + delta for delta in (-1, 0, 1))
    nimgs.update(int(k * period * 1000) for k in range(12))
    for gpus in sorted({config.num_gpus, 1, 3}):
        for nimg in sorted(n for n in nimgs if n >= 0):
            ours = schedule.training_schedule(nimg, log2_res, gpus, **sched)
            lod, res, mb, mb_gpu, g_lr, d_lr, tick = original_schedule(nimg, log2_res, gpus, sched)
            assert ours.lod == lod, (name, nimg)
            assert (ours.resolution, ours.minibatch, ours.tick_kimg) == (res, mb, tick), nimg
            assert ours.minibatch_gpu == mb_gpu, (name, nimg)
            assert (ours.G_lrate, ours.D_lrate) == (g_lr, d_lr), (name, nimg)


def test_ffhq_8gpu_matches_the_spec_table():
    sched = config_lib.to_dict(config_lib.preset("ffhq-8gpu"))["sched"]
    at = lambda kimg: schedule.training_schedule(int(kimg * 1000), 10, 8, **sched)  # noqa: E731
    assert (at(0).lod, at(0).resolution, at(0).minibatch) == (7.0, 8, 256)
    assert (at(599.9).lod, at(900).lod, at(1200).lod) == (7.0, 6.5, 6.0)
    assert (at(900).resolution, at(900).minibatch) == (16, 128)   # fading: already 16x16
    assert (at(3000).resolution, at(3000).minibatch) == (32, 64)
    assert at(4500).G_lrate == 0.0015 and at(4500).resolution == 128
    assert at(8400).lod == 0.0 and at(8400).G_lrate == 0.003 and at(8400).tick_kimg == 20
    assert at(25000).lod == 0.0


def test_minibatch_per_gpu_rules():
    sched = dict(minibatch_base=10, minibatch_dict={8: 7}, max_minibatch_per_gpu={8: 2},
                 lod_initial_resolution=8)
    state = schedule.training_schedule(0, 5, 3, **sched)
    assert state.resolution == 8 and state.minibatch == 6  # 7 - 7 % 3 = 6, cap 2 * 3 = 6
    state = schedule.training_schedule(0, 5, 2, **sched)
    assert state.minibatch == 4  # 7 - 1 = 6, capped at 2 * 2
    state = schedule.training_schedule(0, 3, 4, minibatch_base=10, lod_initial_resolution=8)
    assert state.minibatch == 8


def test_lrate_rampup():
    state = schedule.training_schedule(250, 5, 1, lrate_rampup_kimg=1.0, G_lrate_base=0.002)
    assert math.isclose(state.G_lrate, 0.0005) and math.isclose(state.D_lrate, 0.00025)


def reset_points(name, step_kimg=None):
    """kimg values at which the original loop resets the optimizers, walking its iterations."""
    config = config_lib.preset(name)
    sched = config_lib.to_dict(config)["sched"]
    log2_res = int(np.log2(preset_resolution(config)))
    nimg, prev, resets = 0, None, []
    while nimg < config.total_kimg * 1000:
        state = schedule.training_schedule(nimg, log2_res, config.num_gpus, **sched)
        if schedule.should_reset_optimizers(prev, state.lod):
            resets.append(nimg / 1000)
        prev = state.lod
        nimg += state.minibatch * config.minibatch_repeats
    return resets


def test_optimizer_resets_at_start_and_both_ends_of_each_fade():
    resets = reset_points("demo")
    # demo: 6 kimg stable + 6 kimg fade per phase, 3 fades; the loop steps 128 images at a time.
    expected_starts = [0.0]
    for fade in range(3):
        start, end = 6 + 12 * fade, 12 + 12 * fade
        expected_starts += [start, end]
    assert len(resets) == len(expected_starts)
    for got, want in zip(resets, expected_starts):
        assert want <= got < want + 0.128 + 1e-9


def test_reset_predicate():
    assert schedule.should_reset_optimizers(None, 3.0)
    assert not schedule.should_reset_optimizers(3.0, 3.0)
    assert schedule.should_reset_optimizers(3.0, 2.9)      # fade starts: ceil stays 3, floor 3 -> 2
    assert not schedule.should_reset_optimizers(2.9, 2.5)
    assert schedule.should_reset_optimizers(2.1, 2.0)      # fade ends: ceil 3 -> 2
    assert not schedule.should_reset_optimizers(0.0, 0.0)


def test_table_rows_and_format():
    config = config_lib.preset("demo")
    rows = schedule.schedule_rows(config_lib.to_dict(config)["sched"], 5, 1, 10, 4)
    assert [row.kimg for row in rows] == [0, 4, 8, 10]
    text = schedule.format_schedule_table(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["kimg", "lod", "minibatch", "G_lrate", "D_lrate", "tick_kimg"]
    assert lines[3].split() == ["8", "2.6667", "32", "0.002", "0.002", "4"]
    with pytest.raises(ValueError):
        schedule.schedule_rows({}, 5, 1, 10, 0)


def test_print_schedule_cli():
    result = subprocess.run(
        [sys.executable, "train.py", "--config=ffhq-8gpu", "--print_schedule",
         "--schedule_step_kimg=300"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == list(schedule.TABLE_HEADER)
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 25000 // 300 + 2  # 0, 300, ..., 24900, then total_kimg
    assert rows[0] == ["0", "7.0000", "256", "0.001", "0.001", "140"]
    assert rows[3] == ["900", "6.5000", "128", "0.001", "0.001", "120"]
    assert rows[-1][:3] == ["25000", "0.0000", "32"]
    for row in rows:
        kimg = float(row[0])
        state = schedule.training_schedule(int(kimg * 1000), 10, 8,
                                           **config_lib.to_dict(config_lib.preset("ffhq-8gpu"))[
                                               "sched"])
        assert float(row[1]) == pytest.approx(state.lod, abs=1e-4)
        assert int(row[2]) == state.minibatch
