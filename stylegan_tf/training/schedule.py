"""The progressive-growing schedule of the original release (`training_schedule`, `training/training_loop.py`).

Everything that varies during training is a function of the number of real images shown so far:
the level of detail `lod` (how many resolution doublings are still missing), the resolution the
data is read at, the minibatch size, the learning rates and the length of a progress tick. The
training loop evaluates the schedule before every group of `minibatch_repeats` steps.
"""

import dataclasses
import math

import numpy as np

# The original's defaults of `training_schedule()`; presets override them (config.ScheduleConfig).
DEFAULT_TICK_KIMG_DICT = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 30,
                          1024: 20}
TABLE_HEADER = ("kimg", "lod", "minibatch", "G_lrate", "D_lrate", "tick_kimg")


@dataclasses.dataclass(frozen=True)
class ScheduleState:
    """The training parameters in force at one point of the training.

    Attributes:
        kimg: thousands of real images shown so far.
        lod: level of detail; 0 = full resolution, fractional while new layers fade in.
        resolution: resolution the reals are read at, `2**(log2(R) - floor(lod))` (during a fade
            already the new, higher one).
        minibatch: global minibatch size (all replicas together).
        minibatch_gpu: samples per replica and pass (StyleGAN2); `minibatch // (minibatch_gpu *
            replicas)` passes accumulate their gradients into one update.
        G_lrate: generator learning rate.
        D_lrate: discriminator learning rate.
        tick_kimg: length of a progress tick in kimg.
    """
    kimg: float
    lod: float
    resolution: int
    minibatch: int
    G_lrate: float
    D_lrate: float
    tick_kimg: float
    minibatch_gpu: int = 0


def training_schedule(cur_nimg, resolution_log2, num_gpus, lod_initial_resolution=4,
                      lod_training_kimg=600, lod_transition_kimg=600, minibatch_base=16,
                      minibatch_dict=None, max_minibatch_per_gpu=None, minibatch_gpu_base=0,
                      minibatch_gpu_dict=None, G_lrate_base=0.001,
                      G_lrate_dict=None, D_lrate_base=0.001, D_lrate_dict=None,
                      lrate_rampup_kimg=0, tick_kimg_base=160, tick_kimg_dict=None):
    """The schedule at `cur_nimg` images, computed exactly as the original (same float64 steps).

    Args:
        cur_nimg: number of real images shown so far.
        resolution_log2: log2 of the dataset's (full) resolution.
        num_gpus: number of replicas the global minibatch is split over; the minibatch is rounded
            down to a multiple of it and capped by `max_minibatch_per_gpu * num_gpus`.
        lod_initial_resolution: resolution at which training starts (None: the full resolution
            throughout, lod 0, as StyleGAN2's configs E and F).
        lod_training_kimg: kimg of stable training at each resolution.
        lod_transition_kimg: kimg of fading in each new resolution.
        minibatch_base: minibatch size where `minibatch_dict` has no entry.
        minibatch_dict: {resolution: global minibatch size}.
        max_minibatch_per_gpu: {resolution: per-replica cap}.
        minibatch_gpu_base, minibatch_gpu_dict: StyleGAN2's samples per replica and pass
            (0 = the replica's whole share).
        G_lrate_base, D_lrate_base: learning rates where the dicts have no entry.
        G_lrate_dict, D_lrate_dict: {resolution: learning rate}.
        lrate_rampup_kimg: if > 0, learning rates ramp up linearly over this many kimg.
        tick_kimg_base: tick length where `tick_kimg_dict` has no entry.
        tick_kimg_dict: {resolution: tick length}; None = the original's default table.

    Returns:
        A ScheduleState.
    """
    minibatch_dict = minibatch_dict or {}
    max_minibatch_per_gpu = max_minibatch_per_gpu or {}
    G_lrate_dict = G_lrate_dict or {}
    D_lrate_dict = D_lrate_dict or {}
    tick_kimg_dict = DEFAULT_TICK_KIMG_DICT if tick_kimg_dict is None else tick_kimg_dict
    kimg = cur_nimg / 1000.0

    # A phase is `lod_training_kimg` of stable training followed by `lod_transition_kimg` of fade.
    phase_dur = lod_training_kimg + lod_transition_kimg
    phase_idx = int(np.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    if lod_initial_resolution is None:
        lod = 0.0
    else:
        lod = float(resolution_log2)
        lod -= float(np.floor(np.log2(lod_initial_resolution)))
        lod -= phase_idx
        if lod_transition_kimg > 0:
            lod -= max(phase_kimg - lod_training_kimg, 0.0) / lod_transition_kimg
        lod = max(lod, 0.0)
    resolution = 2 ** (resolution_log2 - int(np.floor(lod)))

    minibatch = int(minibatch_dict.get(resolution, minibatch_base))
    minibatch -= minibatch % num_gpus
    if resolution in max_minibatch_per_gpu:
        minibatch = min(minibatch, int(max_minibatch_per_gpu[resolution]) * num_gpus)

    minibatch_gpu = int((minibatch_gpu_dict or {}).get(resolution, minibatch_gpu_base))
    if minibatch_gpu <= 0:
        minibatch_gpu = minibatch // num_gpus

    G_lrate = G_lrate_dict.get(resolution, G_lrate_base)
    D_lrate = D_lrate_dict.get(resolution, D_lrate_base)
    if lrate_rampup_kimg > 0:
        rampup = min(kimg / lrate_rampup_kimg, 1.0)
        G_lrate *= rampup
        D_lrate *= rampup

    tick_kimg = tick_kimg_dict.get(resolution, tick_kimg_base)
    return ScheduleState(kimg=kimg, lod=lod, resolution=resolution, minibatch=minibatch,
                         G_lrate=float(G_lrate), D_lrate=float(D_lrate),
                         tick_kimg=float(tick_kimg), minibatch_gpu=minibatch_gpu)


def should_reset_optimizers(prev_lod, lod):
    """True where the original resets both Adam states: at the first evaluation (`prev_lod` None)
    and whenever floor(lod) or ceil(lod) changes, i.e. at the start and at the end of each fade.
    """
    if prev_lod is None:
        return True
    return (math.floor(lod) != math.floor(prev_lod)) or (math.ceil(lod) != math.ceil(prev_lod))


def schedule_rows(sched_kwargs, resolution_log2, num_gpus, total_kimg, step_kimg=100):
    """The schedule every `step_kimg` from 0 up to `total_kimg` (which ends the table).

    Args:
        sched_kwargs: keyword arguments of `training_schedule` (e.g. a ScheduleConfig as dict).
        resolution_log2: log2 of the dataset resolution.
        num_gpus: number of replicas.
        total_kimg: length of the training.
        step_kimg: spacing of the rows.

    Returns:
        List of ScheduleState.
    """
    if step_kimg <= 0:
        raise ValueError(f"schedule step must be positive, got {step_kimg} kimg.")
    if total_kimg < 0:
        raise ValueError(f"total_kimg must be >= 0, got {total_kimg}.")
    num_steps = int(math.floor(total_kimg / step_kimg + 1e-9))
    kimgs = [index * step_kimg for index in range(num_steps + 1)]
    if kimgs[-1] < total_kimg:
        kimgs.append(total_kimg)
    return [training_schedule(int(round(kimg * 1000)), resolution_log2, num_gpus, **sched_kwargs)
            for kimg in kimgs]


def format_schedule_table(rows):
    """Whitespace-aligned table with the header `kimg lod minibatch G_lrate D_lrate tick_kimg`."""
    cells = [TABLE_HEADER] + [
        (f"{row.kimg:g}", f"{row.lod:.4f}", str(row.minibatch), f"{row.G_lrate:g}",
         f"{row.D_lrate:g}", f"{row.tick_kimg:g}") for row in rows]
    widths = [max(len(line[col]) for line in cells) for col in range(len(TABLE_HEADER))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in cells)


def lod_range_of(lod):
    """The `lod_range` promise for the networks while the schedule is at `lod`: the exact value
    during a stable phase, the open interval (k, k + 1) during a fade into level k. Either way the
    networks build only the levels that lod blends, without conditionals, so each phase of each
    resolution compiles to its own small step."""
    lod = float(lod)
    level = math.floor(lod)
    if lod == level:
        return (lod, lod)
    return (float(np.nextafter(level, level + 1)), float(np.nextafter(level + 1, level)))


class AtLodRange:
    """A network called with a fixed `lod_range` (what the loss functions see as G or D; G's
    `compute_dlatents` and `synthesis` for the path-length regularizer)."""

    def __init__(self, net, lod_range):
        self.net = net
        self.lod_range = lod_range

    def __call__(self, *args, **kwargs):
        return self.net(*args, lod_range=self.lod_range, **kwargs)

    def compute_dlatents(self, *args, **kwargs):
        return self.net.compute_dlatents(*args, **kwargs)

    def synthesis(self, dlatents, **kwargs):
        return self.net.synthesis(dlatents, lod_range=self.lod_range, **kwargs)
