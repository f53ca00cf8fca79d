"""Run directories, network snapshots and the training state stored beside them.

A snapshot is `network-snapshot-{kimg:06d}.pkl`, written by `legacy.save_networks` in the original
pickle format (so the original's tools and `legacy.load_networks` read it), plus
`network-snapshot-{kimg:06d}-state.npz` with what the pickle cannot hold: both optimizers' Adam
moments and step counters, the image count, tick, elapsed time and the schedule's previous lod.
The state file is written before the pickle, both atomically, so a pickle that exists always has
a complete state beside it (or none, for pickles from elsewhere).
"""

import glob
import json
import os
import re

import numpy as np

from stylegan_tf import fileio, npz

RUN_DIR_RE = re.compile(r"^(\d+)-")
SNAPSHOT_RE = re.compile(r"^network-snapshot-(\d+)\.pkl$")
_META_KEY = "__meta__"


def create_run_dir(result_dir, desc):
    """Creates `result_dir/{id:05d}-{desc}` with the next free id (as the original's submit)."""
    os.makedirs(result_dir, exist_ok=True)
    while True:
        ids = [int(match.group(1)) for match in map(RUN_DIR_RE.match, os.listdir(result_dir))
               if match]
        run_dir = os.path.join(result_dir, f"{max(ids, default=-1) + 1:05d}-{desc}")
        try:
            os.makedirs(run_dir)
            return run_dir
        except FileExistsError:  # another process took the id meanwhile
            continue


def locate_run_dir(run_id_or_dir, result_dir):
    """A run directory given as a path, or as a run id (number) under `result_dir`.

    Raises:
        OSError: nothing or more than one directory matches.
    """
    text = str(run_id_or_dir)
    if os.path.isdir(text):
        return text
    if text.isdigit() and os.path.isdir(result_dir):
        pattern = re.compile(rf"^0*{int(text)}-")
        matches = sorted(name for name in os.listdir(result_dir)
                         if pattern.match(name) and os.path.isdir(os.path.join(result_dir, name)))
        if len(matches) == 1:
            return os.path.join(result_dir, matches[0])
        if len(matches) > 1:
            raise OSError(f"Run id {text} matches several run directories in {result_dir}: "
                          f"{', '.join(matches)}.")
    raise OSError(f"Cannot find a run directory or network pickle {text!r}.")


def list_network_pkls(run_dir, include_final=True):
    """Snapshots of a run oldest first, `network-final.pkl` last (the original's order)."""
    pkls = sorted(glob.glob(os.path.join(glob.escape(run_dir), "network-*.pkl")))
    finals = [path for path in pkls if os.path.basename(path) == "network-final.pkl"]
    pkls = [path for path in pkls if os.path.basename(path) != "network-final.pkl"]
    return pkls + (finals if include_final else [])


def snapshot_name(kimg):
    return f"network-snapshot-{int(kimg):06d}.pkl"


def state_path(pkl_path):
    """The training-state file that belongs to a snapshot pickle."""
    stem = pkl_path[:-4] if pkl_path.endswith(".pkl") else pkl_path
    return stem + "-state.npz"


def kimg_from_name(pkl_path):
    """The kimg in a `network-snapshot-NNNNNN.pkl` name, or None."""
    match = SNAPSHOT_RE.match(os.path.basename(pkl_path))
    return int(match.group(1)) if match else None


def save_state(path, arrays, meta):
    """Writes {name: array} and a JSON-able `meta` dict to an .npz file atomically."""
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    payload[_META_KEY] = np.asarray(json.dumps(meta))
    with fileio.atomic_write(path) as file:
        np.savez(file, **payload)


def load_state(path):
    """(arrays dict, meta dict) from `save_state`'s file.

    Raises:
        OSError / ValueError: unreadable or not a state file.
    """
    arrays = npz.load(path, "training-state file")
    if _META_KEY not in arrays:
        raise ValueError(f"{path} is not a training-state file (no {_META_KEY}).")
    meta = json.loads(str(arrays.pop(_META_KEY)))
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: the training-state header is a {type(meta).__name__}, not a dict.")
    return arrays, meta


def prune_snapshots(run_dir, keep):
    """Deletes all but the newest `keep` network-snapshot pickles (and their state files);
    keep = 0 keeps everything. `network-final.pkl` is never deleted."""
    if keep <= 0:
        return []
    pkls = [path for path in list_network_pkls(run_dir, include_final=False)
            if SNAPSHOT_RE.match(os.path.basename(path))]
    pkls.sort(key=lambda path: (kimg_from_name(path), os.path.getmtime(path)))
    removed = pkls[:-keep]
    for path in removed:
        for victim in (path, state_path(path)):
            if os.path.exists(victim):
                os.remove(victim)
    return removed
