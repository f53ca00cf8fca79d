"""Snapshots of a `Trainer` and resuming from them: the networks as an original-format pickle, the
optimizer states and loop progress in the `-state.npz` beside it (`snapshots` has the file formats).
"""

import dataclasses
import glob
import os
import zipfile

import numpy as np

from stylegan_tf import legacy
from stylegan_tf.training.snapshots import kimg_from_name, load_state, prune_snapshots, save_state, state_path

STATE_VERSION = 2  # of the -state.npz layout; checked on resume
# Version 1 (before StyleGAN2 training) lacks the regularization counter and the path-length means.
READABLE_STATE_VERSIONS = (1, 2)



@dataclasses.dataclass
class LoopState:
    """Progress that a snapshot's state file carries across a resume."""
    cur_nimg: int = 0
    cur_tick: int = 0
    total_time: float = 0.0
    prev_lod: float = None
    step_counter: int = 0
    mb_counter: int = 0  # minibatches run (StyleGAN2's lazy-regularization counter)


def read_training_state(state_file):
    """(arrays, meta) of a `-state.npz`, checked before anything is written: readable, a known
    version, every array finite. A damaged file is an error that names it and the way round it."""
    try:
        arrays, meta = load_state(state_file)
        if meta.get("version") not in READABLE_STATE_VERSIONS:
            raise ValueError(f"training-state version {meta.get('version')!r}; this release reads "
                             f"versions {', '.join(map(str, READABLE_STATE_VERSIONS))}")
        for key, value in arrays.items():
            if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
                raise ValueError(f"{key} holds non-finite values, as a diverged run leaves them")
        for key in ("cur_nimg", "cur_tick", "total_time", "step_counter"):
            float(meta[key])
        return arrays, meta
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile) as error:
        raise ValueError(f"{state_file}: cannot use the training state ({error}); pass "
                         "--resume_without_state to resume the networks with fresh optimizers") from None


def _restore_training_state(trainer, state_file, arrays, meta):
    """Assigns the optimizer states of `read_training_state` to `trainer`; returns the LoopState."""
    try:
        trainer.G_opt.load_state_arrays(arrays)
        trainer.D_opt.load_state_arrays(arrays)
        if trainer.pl_mean is not None and PL_MEAN_KEY in arrays:
            trainer.set_pl_mean_values(arrays[PL_MEAN_KEY])
        if trainer.augment is not None:  # ADA's p and r_t accumulator (absent: the config's initial p)
            trainer.augment.load_state_arrays(trainer.strategy, arrays)
        return LoopState(cur_nimg=int(meta["cur_nimg"]), cur_tick=int(meta["cur_tick"]),
                         total_time=float(meta["total_time"]), prev_lod=meta["prev_lod"],
                         step_counter=int(meta["step_counter"]),
                         mb_counter=int(meta.get("mb_counter", 0)))
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{state_file}: cannot use the training state ({error}); pass "
                         "--resume_without_state to resume the networks with fresh optimizers") from None


@dataclasses.dataclass
class ResumeInputs:
    """What a resume reads, and so validates, before the run directory exists."""
    networks: tuple
    state: tuple = None  # (arrays, meta) of the state file, or None


def read_networks(pkl, log, trusted_sources=()):
    """(G, D, Gs) of the pickle to resume from; removes what killed snapshot writes left in its folder.
    Networks holding non-finite values (a diverged run's) are refused. `trusted_sources`: as
    `legacy.load_networks`'."""
    log(f'Loading networks from "{pkl}"...')
    networks = legacy.load_networks(pkl, trusted_sources=tuple(trusted_sources))
    for net, what in zip(networks, ("G", "D", "Gs")):
        bad = [name for name, variable in net.original_variables().items()
               if not np.all(np.isfinite(variable.numpy()))]
        if bad:
            raise ValueError(f"{pkl}: {what} holds non-finite values ({', '.join(bad[:3])}"
                             f"{' ...' if len(bad) > 3 else ''}); resume from an earlier snapshot.")
    folder = os.path.dirname(os.path.abspath(pkl))
    for leftover in glob.glob(os.path.join(glob.escape(folder), ".network-*.tmp")):
        os.remove(leftover)  # fileio.atomic_write's temporary file of an interrupted snapshot
        log(f"Removed {os.path.basename(leftover)}, left by an interrupted snapshot write.")
    return networks


def read_resume(pkl, config, log):
    """The networks (`read_networks`) and, when used, the training state beside `pkl`."""
    networks = read_networks(pkl, log, config.resume_trusted_sources)
    state_file = state_path(pkl)
    state = read_training_state(state_file) if os.path.isfile(state_file) and config.resume_state else None
    return ResumeInputs(networks, state)


def load_resume(trainer, pkl, inputs, config, log):
    """Assigns what `read_resume(pkl)` read to `trainer`; returns the LoopState."""
    trainer.copy_networks(*inputs.networks)
    state = LoopState()
    state_file = state_path(pkl)
    if inputs.state is not None:
        state = _restore_training_state(trainer, state_file, *inputs.state)
        augment_note = (f" and augmentation p {trainer.augment.p_value(trainer.strategy):.4f}"
                        if trainer.augment is not None else "")
        log(f"Resuming at {state.cur_nimg / 1000:.1f} kimg with the optimizer state{augment_note} of "
            f"{os.path.basename(state_file)}.")
    else:
        kimg = kimg_from_name(pkl)
        state.cur_nimg = int((kimg or 0) * 1000)
        why = "ignoring the training state" if os.path.isfile(state_file) else "no training state beside the pickle"
        log(f"{why[0].upper() + why[1:]}: fresh optimizers, starting at {state.cur_nimg / 1000:.1f} kimg.")
    if config.resume_kimg is not None:
        state.cur_nimg = int(config.resume_kimg * 1000)
    if config.resume_time is not None:
        state.total_time = float(config.resume_time)
    return state


PL_MEAN_KEY = "G_loss/PathReg/pl_mean"  # one value per replica


def save_snapshot(trainer, run_dir, name, loop_state, keep):
    pkl = os.path.join(run_dir, name)
    arrays = {**trainer.G_opt.state_arrays(), **trainer.D_opt.state_arrays()}
    if trainer.pl_mean is not None:
        arrays[PL_MEAN_KEY] = trainer.pl_mean_values()
    if trainer.augment is not None:
        arrays.update(trainer.augment.state_arrays(trainer.strategy))
    meta = dict(version=STATE_VERSION, cur_nimg=loop_state.cur_nimg, cur_tick=loop_state.cur_tick,
                total_time=loop_state.total_time, prev_lod=loop_state.prev_lod,
                step_counter=trainer.step_counter, mb_counter=loop_state.mb_counter)
    save_state(state_path(pkl), arrays, meta)  # first: see py
    legacy.save_networks(pkl, trainer.G, trainer.D, trainer.Gs)
    prune_snapshots(run_dir, keep)
    return pkl
