"""train.py end to end: real faces on two mirrored CPU replicas through a lod transition, killed
with SIGKILL and resumed; two worker processes with TF_CONFIG; the demo dataset."""
import ast
import json
import os
import signal
import socket
import time

import numpy as np
import PIL.Image
import pytest

import training_fixtures as fixtures
from conftest import FACES_DIR as SHARED_FACES_DIR
from conftest import shared_fixture

FACES_DIR = shared_fixture(SHARED_FACES_DIR)

pytestmark = pytest.mark.slow


def read_stats(run_dir):
    with open(run_dir / "stats.jsonl", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def tick_kimgs(log_text):
    return [float(line.split()[3]) for line in log_text.splitlines() if line.startswith("tick ")]


def kill_when_written(process, folder, pattern, timeout=300):
    """SIGKILLs a background train.py as soon as a file matching `pattern` appears under `folder`;
    returns that file."""
    deadline = time.time() + timeout
    found = sorted(folder.glob(pattern))
    while not found and time.time() < deadline and process.poll() is None:
        time.sleep(0.1)
        found = sorted(folder.glob(pattern))
    process.send_signal(signal.SIGKILL)
    output = process.communicate()[0]
    assert found, output[-3000:]
    return found[0]


def faces_args(tmp_path, total_kimg):
    return ["--config=demo", f"--data_dir={tmp_path / 'datasets'}", "--dataset=faces32",
            f"--outdir={tmp_path / 'results'}", "--strategy=mirrored", "--cpu_replicas=2",
            "--mirror_augment", f"--total_kimg={total_kimg}", "--snapshot_keep=2",
            *fixtures.tiny_overrides(**{
                "sched.lod_initial_resolution": 16, "sched.lod_training_kimg": 1,
                "sched.lod_transition_kimg": 1, "sched.minibatch_base": 16,
                "sched.tick_kimg_base": 1, "network_snapshot_ticks": 1})]


def test_faces_two_replicas_sigkill_resume(tmp_path):
    from stylegan_tf import legacy
    from stylegan_tf.training import snapshots
    fixtures.make_faces_dataset(tmp_path / "datasets" / "faces32", FACES_DIR, 64, 32)

    # Run 1: killed with SIGKILL right after its first network snapshot (1 kimg, 16x16 stable).
    first = fixtures.run_train(faces_args(tmp_path, 3), cwd=tmp_path, background=True)
    results = tmp_path / "results"
    snapshot = kill_when_written(first, results, "*/network-snapshot-000001.pkl")
    run1 = snapshot.parent
    assert not (run1 / "_finished.txt").exists()
    # Nothing corrupt: every snapshot pickle loads and has its state file.
    for pkl in snapshots.list_network_pkls(str(run1)):
        legacy.load_networks(pkl)
        assert os.path.isfile(snapshots.state_path(pkl))
    _, meta = snapshots.load_state(snapshots.state_path(str(snapshot)))
    killed_at = meta["cur_nimg"] / 1000
    assert 1.0 <= killed_at < 1.2

    # Run 2: resume from the run directory (its config.json), through the fade to 32x32.
    second = fixtures.run_train([f"--resume={run1}", "--cpu_replicas=2"], cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    run2 = sorted(p for p in results.iterdir() if p.is_dir() and p != run1)[0]
    log = (run2 / "log.txt").read_text()
    assert f"Resuming at {killed_at:.1f} kimg" in log
    assert tick_kimgs(log) == [2.0, 3.0]  # the tick lines print one decimal
    kimgs = [entry["Progress/kimg"] for entry in read_stats(run2)]
    assert kimgs == [killed_at + 1.024, 3.008]  # 64 images per minibatch_repeats group
    assert (run2 / "_finished.txt").exists()

    stats = read_stats(run1) + read_stats(run2)
    lods = [entry["Progress/lod"] for entry in stats]
    assert lods[0] == 1.0 and any(0 < lod < 1 for lod in lods) and lods[-1] == 0.0
    for entry in stats:
        for key in ("Loss/D_loss", "Loss/G_loss", "Loss/scores/real", "Loss/r1_penalty"):
            assert np.isfinite(entry[key]), (key, entry)
    assert all(entry["TrainD/overflow_frequency"] == 0 for entry in stats)

    # The final networks: loadable, Gs is an average of G (not G), lod 0 everywhere.
    G, D, Gs = legacy.load_networks(run2 / "network-final.pkl")
    g_vars, gs_vars = legacy.original_variables(G), legacy.original_variables(Gs)
    assert float(np.asarray(g_vars["lod"])) == 0.0 == float(np.asarray(gs_vars["lod"]))
    differs = [name for name, var in g_vars.items() if var.trainable
               and not np.array_equal(np.asarray(var), np.asarray(gs_vars[name]))]
    assert len(differs) > len(G.trainable_variables) // 2
    images = Gs(np.random.RandomState(0).randn(2, G.latent_size), None, is_validation=True)
    assert images.shape == (2, 32, 32, 3) and np.all(np.isfinite(images))
    # Snapshots kept: the newest two plus the final one, each with its state.
    kept = sorted(p.name for p in run2.glob("network-*.pkl"))
    assert kept == ["network-final.pkl", "network-snapshot-000002.pkl",
                    "network-snapshot-000003.pkl"]
    # Grids: 4x2 images of 32x32 RGB.
    for name in ("reals.png", "fakes-init.png", "fakes000003.png"):
        with PIL.Image.open(run2 / name) as image:
            assert image.size == (128, 64) and image.mode == "RGB"
    # config.txt in the original's format names the dataset and mirroring (for metrics tools).
    original = ast.literal_eval((run2 / "config.txt").read_text())
    assert original["dataset"]["tfrecord_dir"] == "faces32"
    assert original["train"]["mirror_augment"] is True
    assert list(run2.glob("events.out.tfevents.*"))


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_worker_processes(tmp_path):
    from stylegan_tf import legacy
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    args = ["--config=demo", f"--data_dir={tmp_path / 'datasets'}",
            f"--outdir={tmp_path / 'results'}", "--strategy=multiworker", "--total_kimg=0.128",
            *fixtures.tiny_overrides(**{"sched.lod_initial_resolution": 32,
                                        "sched.minibatch_base": 16, "sched.tick_kimg_base": 0.064})]
    # The dataset is written once, before the workers start.
    from stylegan_tf.dataset import demo as demo_data
    demo_data.ensure_digits_dataset(str(tmp_path / "datasets" / "sklearn-digits-32"),
                                    log=lambda message: None)
    workers = [fixtures.run_train(args, cwd=tmp_path, background=True, env={
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})})
        for index in range(2)]
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=300)[0])
        finally:
            worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    assert "MultiWorkerMirroredStrategy with 2 replica(s)" in outputs[0]
    # Same ticks on both workers; only the chief writes a run directory.
    assert len(tick_kimgs(outputs[0])) == 2 and tick_kimgs(outputs[0]) == tick_kimgs(outputs[1])
    runs = list((tmp_path / "results").iterdir())
    assert len(runs) == 1 and "Run directory" not in outputs[1]
    stats = read_stats(runs[0])
    assert [entry["Progress/kimg"] for entry in stats] == [0.064, 0.128]
    assert all(np.isfinite(entry["Loss/D_loss"]) for entry in stats)
    G, D, Gs = legacy.load_networks(runs[0] / "network-final.pkl")
    assert G.resolution == 32


def test_demo_dataset_and_cli_errors(tmp_path):
    from stylegan_tf import dataset
    from stylegan_tf.dataset import demo as demo_data
    path = demo_data.ensure_digits_dataset(str(tmp_path / "digits"), log=lambda message: None)
    data = dataset.TFRecordDataset(path, max_label_size="full")
    assert (data.resolution, data.num_channels, data.num_images, data.label_size) == (32, 1, 1797,
                                                                                     10)
    images, _ = next(iter(data.make_dataset(0, 16, shuffle=False)))
    assert images.shape == (16, 32, 32, 1) and int(images.numpy().max()) > 200
    assert demo_data.ensure_digits_dataset(path) == path  # second call: already there
    result = fixtures.run_train(["--config=demo", f"--data_dir={tmp_path}", "--dataset=missing",
                                 f"--outdir={tmp_path / 'results'}"], cwd=tmp_path)
    assert result.returncode == 1
    assert "Error: Dataset directory" in result.stderr and "Traceback" not in result.stderr
    result = fixtures.run_train(["--config=demo", "--set=sched.lod_initial_resolution=6",
                                 "--dry_run"], cwd=tmp_path)
    assert result.returncode == 1 and "power of two" in result.stderr
    result = fixtures.run_train(["--config=demo", "--set=total_kimg=12", "--dry_run"],
                                cwd=tmp_path)
    assert result.returncode == 0 and json.loads(result.stdout)["total_kimg"] == 12.0


def _lazy_steps(minibatches):
    """(G, D) Adam steps after `minibatches` of config E: one each per minibatch plus the path-length
    steps (minibatches 0, 4, 8, ...) and the R1 steps (0, 16, 32, ...)."""
    return minibatches + (minibatches + 3) // 4, minibatches + (minibatches + 15) // 16


def test_stylegan2_config_e_two_replicas_sigkill_resume(tmp_path):
    """config-e at 32x32 on 2 mirrored replicas with 2 accumulated passes per minibatch, killed
    after its first snapshot and resumed: it continues at that kimg with its Adam states, its
    per-replica path-length means and its regularization counter."""
    from stylegan_tf import legacy
    from stylegan_tf.training import resume, snapshots
    fixtures.make_faces_dataset(tmp_path / "datasets" / "faces32", FACES_DIR, 64, 32)
    args = ["--config=config-e", f"--data_dir={tmp_path / 'datasets'}", "--dataset=faces32",
            f"--outdir={tmp_path / 'results'}", "--strategy=mirrored", "--cpu_replicas=2",
            "--total_kimg=0.5", "--xla=off",
            *fixtures.tiny_overrides(**{"sched.minibatch_base": 16, "sched.tick_kimg_base": 0.25,
                                        "network_snapshot_ticks": 1, "image_snapshot_ticks": 1})]
    first = fixtures.run_train(args, cwd=tmp_path, background=True)
    results = tmp_path / "results"
    snapshot = kill_when_written(first, results, "*/network-snapshot-000000.pkl")  # state file first
    run1 = snapshot.parent
    arrays1, meta1 = snapshots.load_state(snapshots.state_path(str(snapshot)))
    # tick 0 comes after the first group of 4 minibatches (64 images); a slow kill may see tick 1
    minibatches1 = meta1["mb_counter"]
    assert minibatches1 % 4 == 0 and minibatches1 >= 4 and meta1["cur_nimg"] == 16 * minibatches1
    pl_mean1 = arrays1[resume.PL_MEAN_KEY]
    assert pl_mean1.shape == (2,) and np.all(pl_mean1 > 0) and pl_mean1[0] != pl_mean1[1]
    assert (arrays1["TrainG/steps"], arrays1["TrainD/steps"]) == _lazy_steps(minibatches1)

    # Run 2: one more group of 4 minibatches (snapshots are named by whole kimg, so its last state
    # file is the one to read).
    second = fixtures.run_train([f"--resume={run1}", "--cpu_replicas=2",
                                 f"--total_kimg={(meta1['cur_nimg'] + 64) / 1000}"], cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    run2 = sorted(p for p in results.iterdir() if p.is_dir() and p != run1)[0]
    log2 = (run2 / "log.txt").read_text()
    assert f"Resuming at {meta1['cur_nimg'] / 1000:.1f} kimg" in log2
    stats = read_stats(run2)
    assert [entry["Progress/kimg"] for entry in stats] == [(meta1["cur_nimg"] + 64) / 1000]
    # 4 minibatches on: counters and Adam steps continue, and so does each replica's path-length
    # mean (one more step moves it by 1 % of its distance to the lengths; a restart from 0 would
    # give 1 % of the lengths).
    arrays2, meta2 = snapshots.load_state(snapshots.state_path(str(run2 / "network-final.pkl")))
    assert meta2["mb_counter"] == minibatches1 + 4
    assert (arrays2["TrainG/steps"], arrays2["TrainD/steps"]) == _lazy_steps(minibatches1 + 4)
    steps = minibatches1 // 4  # path-length steps before the kill
    continued = (1 - 0.99 ** (steps + 1)) / (1 - 0.99 ** steps)  # if the lengths stay about the same
    np.testing.assert_allclose(arrays2[resume.PL_MEAN_KEY] / pl_mean1, continued, rtol=0.25)
    for entry in stats:
        for key in ("Loss/G_loss", "Loss/D_loss", "Loss/scores/real", "Loss/G_reg", "Loss/pl_lengths"):
            assert np.isfinite(entry[key]), (key, entry)
        assert entry["TrainG/learning_rate"] == pytest.approx(0.0016)
    r1_stats = read_stats(run1)[0]  # tick 0 of run 1 holds minibatch 0, which runs R1
    assert np.isfinite(r1_stats["Loss/gradient_penalty"]) and np.isfinite(r1_stats["Loss/D_reg"])
    G, D, Gs = legacy.load_networks(run2 / "network-final.pkl")
    assert (type(G).FUNC_NAME, type(D).FUNC_NAME, G.resolution) == ("G_main", "D_stylegan2", 32)
    images = Gs(np.random.RandomState(0).randn(2, G.latent_size), None, is_validation=True)
    assert images.shape == (2, 32, 32, 3) and np.all(np.isfinite(images))


def test_ada_two_replicas_sigkill_resume_continues_with_the_saved_p(tmp_path):
    """demo-ada on 2 mirrored replicas (the bgc pipeline on every D input, p tuned every 4 minibatches),
    killed after a snapshot and resumed: p and the r_t accumulator come back from the state file
    and the run goes on from them (both releases restart p at 0)."""
    from stylegan_tf.training import adaptive, snapshots
    fixtures.make_faces_dataset(tmp_path / "datasets" / "faces32", FACES_DIR, 64, 32)
    args = ["--config=demo-ada", f"--data_dir={tmp_path / 'datasets'}", "--dataset=faces32",
            f"--outdir={tmp_path / 'results'}", "--strategy=mirrored", "--cpu_replicas=2", "--total_kimg=0.5",
            "--augpipe=bgc", *fixtures.tiny_overrides(**{
                "sched.minibatch_base": 16, "sched.minibatch_gpu_base": 8, "sched.tick_kimg_base": 0.125,
                "network_snapshot_ticks": 1, "image_snapshot_ticks": 1, "augment.ada_kimg": 0.5,
                "augment.p": 0.5})]
    first = fixtures.run_train(args, cwd=tmp_path, background=True)
    results = tmp_path / "results"
    snapshot = kill_when_written(first, results, "*/network-snapshot-000000.pkl")
    run1 = snapshot.parent
    arrays1, meta1 = snapshots.load_state(snapshots.state_path(str(snapshot)))
    p1 = float(arrays1[adaptive.P_KEY])
    # From 0.5, each tune moves p by +-16 * 4 / 500 = +-0.128 (the sign of r_t - 0.6).
    tunes = meta1["mb_counter"] // 4
    steps = (p1 - 0.5) / 0.128
    assert 1 <= tunes <= 3 and steps == pytest.approx(round(steps), abs=1e-4) and round(steps) % 2 == tunes % 2
    assert arrays1[adaptive.ACCUMULATOR_KEY].tolist() == [0.0, 0.0]  # snapshots follow a tune
    stats1 = read_stats(run1)
    assert stats1[-1]["Progress/augment"] == pytest.approx(p1)
    assert -1.0 <= stats1[-1]["Augment/rt"] <= 1.0

    second = fixtures.run_train([f"--resume={run1}", "--cpu_replicas=2",
                                 f"--total_kimg={(meta1['cur_nimg'] + 64) / 1000}"], cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    run2 = sorted(p for p in results.iterdir() if p.is_dir() and p != run1)[0]
    log2 = (run2 / "log.txt").read_text()
    assert f"augmentation p {p1:.4f}" in log2
    arrays2, _ = snapshots.load_state(snapshots.state_path(str(run2 / "network-final.pkl")))
    p2 = float(arrays2[adaptive.P_KEY])
    assert abs(p2 - p1) == pytest.approx(0.128, abs=1e-5)  # one more tune, from the saved p
    tick_line = [line for line in log2.splitlines() if line.startswith("tick ")][-1]
    assert f"augment {p2:.3f}" in tick_line


@pytest.mark.parametrize("config", ["demo", "demo-sg2"])
def test_abort_txt_stops_and_the_process_exits_within_seconds(tmp_path, config):
    """Both loops: abort.txt stops at the next tick, and the process exits within seconds of it
    (an iterator of tf.data's autotuned pipelines made it wait for up to minutes)."""
    args = [f"--config={config}", f"--data_dir={tmp_path / 'datasets'}", f"--outdir={tmp_path / 'results'}",
            "--total_kimg=100", *fixtures.tiny_overrides(**{"sched.tick_kimg_base": 0.5})]
    process = fixtures.run_train(args, cwd=tmp_path, background=True)
    lines, stopped_at = [], None
    try:
        for line in process.stdout:  # the loop echoes its log, one flushed line at a time
            lines.append(line)
            if line.startswith("tick 1 "):
                (run_dir,) = (tmp_path / "results").iterdir()
                (run_dir / "abort.txt").touch()
            if line.startswith("Stopped (abort.txt)."):
                stopped_at = time.time()
        process.wait(timeout=120)
    finally:
        process.kill()
    exited_after = time.time() - stopped_at if stopped_at else None
    assert process.returncode == 0 and stopped_at, "".join(lines)[-3000:]
    assert exited_after < 20, f"exited {exited_after:.1f} s after 'Stopped (abort.txt).'"
    assert (run_dir / "network-final.pkl").is_file()
    assert any(line.startswith("Strategy: OneDeviceStrategy with 1 replica(s) on /device:") for line in lines)
    # The tick that saw abort.txt ended the run (the file appears while tick 1 or 2 is checked).
    assert sum(line.startswith("tick ") for line in lines) <= 3 - (config == "demo")  # SG2 has tick 0
