"""Helpers for the training tests: tiny configurations, a small faces dataset, running train.py,
and subprocess entry points for checks that need several logical CPU devices (TensorFlow fixes
its devices at start-up, so those run in a fresh process).

Run as a script: `python tests/training_fixtures.py replicas` prints JSON comparing one training
step on 1 replica and on 2 mirrored replicas.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Tiny networks: a few thousand parameters, compiled in seconds.
TINY_G_ARGS = dict(fmap_base=64, fmap_max=16, latent_size=16, dlatent_size=16, mapping_layers=2,
                   mapping_fmaps=16)
TINY_D_ARGS = dict(fmap_base=64, fmap_max=16)
# What makes a step deterministic across replica counts and compilers: the networks' own random
# ops (noise inputs, mixing cutoff) draw per replica and per compiler, and minibatch-stddev groups
# are per replica (as per GPU in the original).
DETERMINISTIC_G_ARGS = dict(TINY_G_ARGS, use_noise=False, style_mixing_prob=0.0)
DETERMINISTIC_D_ARGS = dict(TINY_D_ARGS, mbstd_group_size=1)


def tiny_overrides(**extra):
    """--set arguments for train.py: tiny networks, short phases, frequent snapshots."""
    values = {"G_args": TINY_G_ARGS, "D_args": TINY_D_ARGS, "grid.size": "'4x2'",
              "sched.tick_kimg_dict": {}, "G_smoothing_kimg": 0.1}
    values.update(extra)
    args = []
    for key, value in values.items():
        if isinstance(value, dict) and key in ("G_args", "D_args"):
            args += [f"--set={key}.{name}={item!r}" for name, item in value.items()]
        else:
            args.append(f"--set={key}={value}")
    return args


def make_faces_dataset(target_dir, faces_dir, count=64, resolution=32):
    """The first `count` faces of `faces_dir`, Lanczos-resized to `resolution`, written as an
    original-format TFRecord dataset by the project's exporter."""
    from stylegan_tf.dataset import image_folder, writer
    source = pathlib.Path(target_dir).parent / "faces_source"
    source.mkdir(parents=True, exist_ok=True)
    images = sorted(p for p in pathlib.Path(faces_dir).iterdir() if p.suffix == ".png")[:count]
    if len(images) < count:
        raise RuntimeError(f"{faces_dir} holds only {len(images)} PNG faces.")
    for path in images:
        shutil.copy(path, source / path.name)
    image_folder.create_from_images(
        str(target_dir), str(source), image_options=image_folder.ImageOptions(
            resolution=resolution), options=writer.ExportOptions(progress=False))
    return target_dir


def run_train(args, cwd, timeout=600, env=None, **popen):
    """Runs train.py with `args`; returns the CompletedProcess (or a Popen with popen=True)."""
    command = [sys.executable, str(REPO_ROOT / "train.py")] + list(args)
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    if popen.pop("background", False):
        return subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, **popen)
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def build_trainer(strategy, compile_mode, resolution=8, mirror_augment=False,
                  G_args=None, D_args=None, augment=None):
    """A Trainer with the tiny deterministic networks (R1 gamma 10, non-saturating G loss); `augment`:
    an AugmentConfig (None: no augmentation)."""
    import numpy as np

    from stylegan_tf.training import config as config_lib
    from stylegan_tf.training import trainer
    config = config_lib.TrainConfig(
        G_args=dict(G_args or DETERMINISTIC_G_ARGS), D_args=dict(D_args or DETERMINISTIC_D_ARGS),
        G_loss=config_lib.LossConfig("G_logistic_nonsaturating"),
        D_loss=config_lib.LossConfig("D_logistic_simplegp", {"r1_gamma": 10.0}),
        mirror_augment=mirror_augment, G_smoothing_kimg=0.1, augment=augment or config_lib.AugmentConfig())
    return trainer.Trainer(strategy, config, trainer.DatasetInfo(resolution, 3, 0, np.zeros([16, 0], np.float32)),
                           compile_mode=compile_mode)


def network_arrays(trainer):
    """{net/name: array} of G, D and Gs, by original variable name."""
    import numpy as np
    arrays = {}
    for prefix, net in (("G", trainer.G), ("D", trainer.D), ("Gs", trainer.Gs)):
        for name, var in net.original_variables().items():
            arrays[f"{prefix}/{name}"] = np.array(var.numpy())
    return arrays


def copy_weights(source, target):
    from stylegan_tf.training import trainer
    for name in ("G", "D", "Gs"):
        trainer.copy_network_variables(getattr(source, name), getattr(target, name), name)


def run_steps(trainer, batches, lods, distribute, d_lrate=0.002):
    """One D step and one G step per (batch, lod); returns the per-step losses. `d_lrate=0` keeps
    D as it was, so that the G step's gradients come from the same D as well."""
    import numpy as np
    losses = []
    for images, lod in zip(batches, lods):
        labels = np.zeros([len(images), 0], np.float32)
        if distribute:
            reals, labels = trainer.distribute_batch(images, labels)
        else:
            reals, labels = images, labels
        d_out = trainer.d_step(reals, labels, lod, d_lrate, len(images))
        g_out = trainer.g_step(lod, 0.002, len(images))
        local = trainer.strategy.experimental_local_results
        losses.append((float(np.mean([v.numpy() for v in local(d_out["Loss/D_loss"])])),
                       float(np.mean([v.numpy() for v in local(g_out["Loss/G_loss"])]))))
    return losses


def optimizer_moments(trainer):
    """{opt/name: m} -- with beta1 = 0, Adam's m is exactly the last step's gradient."""
    import numpy as np
    return {f"{opt.name}/{name}": np.array(m.numpy()) for opt in (trainer.G_opt, trainer.D_opt)
            for name, m in zip(opt.names, opt.m)}


# Without noise inputs the 4x4 const layer is spatially constant, so its instance norm divides
# by sqrt(1e-8): the bias gradient (mathematically 0) is rounding noise amplified 1e4 times.
NOISE_GRADIENTS = ("G_synthesis/4x4/Const/bias",)


def gradient_difference(grads_a, grads_b):
    """max over G and D of |g_a - g_b| / |g_a| (all of a network's gradients as one vector)."""
    worst = 0.0
    for opt in ("TrainG", "TrainD"):
        names = [name for name in grads_a
                 if name.startswith(opt + "/") and not name.endswith(NOISE_GRADIENTS)]
        flat_a = np.concatenate([grads_a[name].ravel() for name in names])
        flat_b = np.concatenate([grads_b[name].ravel() for name in names])
        worst = max(worst, float(np.linalg.norm(flat_a - flat_b) / np.linalg.norm(flat_a)))
    return worst


def compare_replicas():
    """One replica vs two mirrored replicas from the same weights, same global batches: per-step
    losses, gradients (Adam's m), and the first update of every parameter element whose gradient
    is not numerically zero (Adam turns rounding noise of a zero gradient into a full +-lr step)."""
    import numpy as np

    from stylegan_tf.training import distribute
    distribute.split_cpu(2)
    import keras
    import tensorflow as tf
    # Seeded weights: the compared quantities depend on how many gradients are near rounding noise,
    # which varies between random initializations (update_diff 1.2e-7 to 1.9e-6 unseeded).
    keras.utils.set_random_seed(0)
    one = build_trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), "function",
                        mirror_augment=True)
    two = build_trainer(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), "function",
                        mirror_augment=True)
    copy_weights(one, two)
    rng = np.random.RandomState(5)
    batches = [rng.randint(0, 256, [8, res, res, 3]).astype(np.uint8) for res in (8, 8, 4)]
    lods = [0.5, 0.25, 1.0]
    result = {"losses_one": [], "losses_two": [], "grad_rel_diff": [], "update_diff": 0.0,
              "updated_elements": 0, "replica_values_equal": True}
    for step, (images, lod) in enumerate(zip(batches, lods)):
        before = network_arrays(one)
        result["losses_one"] += run_steps(one, [images], [lod], distribute=False)
        result["losses_two"] += run_steps(two, [images], [lod], distribute=True)
        grads_one, grads_two = optimizer_moments(one), optimizer_moments(two)
        result["grad_rel_diff"].append(gradient_difference(grads_one, grads_two))
        if step == 0:
            after_one, after_two = network_arrays(one), network_arrays(two)
            for opt in (one.G_opt, one.D_opt):
                net = "G" if opt.name == "TrainG" else "D"
                for name in opt.names:
                    if name.endswith(NOISE_GRADIENTS):
                        continue
                    grad = grads_one[f"{opt.name}/{name}"]
                    determined = np.abs(grad) >= 1e-3 * np.abs(grad).max()
                    key = f"{net}/{name}"
                    delta_one = (after_one[key] - before[key])[determined]
                    delta_two = (after_two[key] - before[key])[determined]
                    result["updated_elements"] += int(np.count_nonzero(delta_one))
                    if delta_one.size:
                        result["update_diff"] = max(result["update_diff"],
                                                    float(np.abs(delta_one - delta_two).max()))
    for var in two.G.trainable_variables + two.D.trainable_variables:
        values = [v.numpy() for v in var.value.values]
        result["replica_values_equal"] &= bool(all(np.array_equal(values[0], v)
                                                   for v in values[1:]))
    result["steps"] = [int(two.G_opt.steps.numpy()), int(two.D_opt.steps.numpy())]
    print(json.dumps(result))


def compare_augmented_replicas():
    """ADA on one replica vs two mirrored replicas from the same weights and reals: the augmented D
    losses, the r_t accumulator (summed over replicas) and p after a tune (equal on every replica)."""
    import numpy as np

    from stylegan_tf.training import distribute
    distribute.split_cpu(2)
    import keras
    import tensorflow as tf

    from stylegan_tf.training import config as config_lib
    keras.utils.set_random_seed(0)
    # bgc: the noise op draws its image per pass (not for the global minibatch), and the filter bank
    # needs images of 22x22 or more.
    augment = config_lib.AugmentConfig(mode="ada", pipe="bgc", p=0.5, ada_kimg=1.0)
    one = build_trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), "function", augment=augment)
    two = build_trainer(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), "function", augment=augment)
    copy_weights(one, two)
    images = np.random.RandomState(5).randint(0, 256, [8, 8, 8, 3]).astype(np.uint8)
    losses_one = run_steps(one, [images], [0.0], distribute=False, d_lrate=0.0)
    losses_two = run_steps(two, [images], [0.0], distribute=True, d_lrate=0.0)
    accumulators = [v.numpy().tolist() for v in two.strategy.experimental_local_results(two.augment.accumulator)]
    stats = two.tune_augment(8 * 4)
    result = dict(losses_one=losses_one, losses_two=losses_two,
                  accumulator_one=one.augment.accumulator.numpy().tolist(), accumulators_two=accumulators,
                  rt=[float(v.numpy()) for v in two.strategy.experimental_local_results(stats["Augment/rt"])],
                  p_two=[float(v.numpy()) for v in two.strategy.experimental_local_results(two.augment.p)],
                  accumulators_after=[v.numpy().tolist() for v in
                                      two.strategy.experimental_local_results(two.augment.accumulator)])
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:] == ["replicas"]:
        compare_replicas()
    elif sys.argv[1:] == ["augmented_replicas"]:
        compare_augmented_replicas()
    else:
        raise SystemExit(f"usage: {sys.argv[0]} replicas|augmented_replicas")
