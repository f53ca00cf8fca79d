"""The ORIGINAL releases load the pickles we write and compute the same images from them.

Runs only where STYLEGAN_ORIG_DIR / STYLEGAN2_ORIG_DIR point at extracted releases
(`git archive` of github:NVlabs/stylegan / stylegan2), with the shims of
../shared/tools/original-speed that run their TF1 code under TensorFlow 2's compat.v1; skipped
otherwise. The original's own `pickle.load` (as `misc.load_pkl` / `pretrained_networks`) executes
our one-line `build_module_src`, which imports the release's network module.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from stylegan_tf import legacy

from conftest import FIXTURES_DIR, REPO_ROOT

TOOLS = REPO_ROOT.parent / "shared" / "tools" / "original-speed"
CASES = [("STYLEGAN_ORIG_DIR", "orig_env", FIXTURES_DIR / "original-stylegan" / "rgb32"),
         ("STYLEGAN2_ORIG_DIR", "orig2_env", FIXTURES_DIR / "original-stylegan2" / "f-rgb64"),
         ("STYLEGAN2_ORIG_DIR", "orig2_env", FIXTURES_DIR / "original-stylegan2" / "b-revised-rgb32")]

_RUN_ORIGINAL = """
import pickle, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
env = __import__(sys.argv[2])
env.setup(sys.argv[3])
import dnnlib.tflib as tflib
tflib.init_tf()
with open(sys.argv[4], "rb") as file:
    G, D, Gs = pickle.load(file, encoding="latin1")
import tensorflow as tf
latents = np.load(sys.argv[5])
labels = tf.zeros([len(latents), Gs.input_shapes[1][1]])
images = Gs.get_output_for(tf.constant(latents), labels, truncation_psi=None, randomize_noise=False)
np.save(sys.argv[6], tflib.run(images))  # (Gs.run pins /gpu:0, which a CPU machine lacks)
print(type(Gs).__module__, Gs.name, G.name, D.name)
"""


@pytest.mark.slow
@pytest.mark.parametrize("env_var,env_module,fixture", CASES, ids=lambda value: getattr(value, "name", value))
def test_original_code_loads_our_pickles(tmp_path, env_var, env_module, fixture):
    orig_dir = os.environ.get(env_var)
    if not orig_dir:
        pytest.skip(f"{env_var} does not point at an extracted original release")
    G, D, Gs = legacy.load_networks(fixture / "network.pkl")
    legacy.save_networks(tmp_path / "ours.pkl", G, D, Gs)
    latents = np.random.RandomState(3).randn(2, Gs.latent_size).astype(np.float32)
    np.save(tmp_path / "latents.npy", latents)
    result = subprocess.run(
        [sys.executable, "-c", _RUN_ORIGINAL, str(TOOLS), env_module, orig_dir, str(tmp_path / "ours.pkl"),
         str(tmp_path / "latents.npy"), str(tmp_path / "images.npy")],
        capture_output=True, text=True, timeout=600, cwd=orig_dir,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = np.load(tmp_path / "images.npy")  # NCHW
    ours = Gs(latents, None, truncation_psi=None, randomize_noise=False).numpy()
    error = np.max(np.abs(np.transpose(theirs, [0, 2, 3, 1]) - ours)) / (1 + np.max(np.abs(theirs)))
    assert error <= 1e-4, error
