"""Hostile and broken inputs: every loader refuses them with a one-line error, runs nothing from
them, and stays within bounded time and memory. The crafted files are made here, in the test."""
import io
import json
import os
import pickle
import pickletools
import re
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest
from hostile_files import (
    FIXTURE,
    FIXTURES,
    RunsCommand,
    assert_clean_refusal,
    run_limited,
    torchscript_with_tensor,
    write_random_dataset,
)

from stylegan_tf import generation, legacy
from stylegan_tf.dataset import writer
from stylegan_tf.metrics import evaluation, torch_files
from stylegan_tf.training import resume, snapshots, stats

from conftest import REPO_ROOT


def fixture_states():
    return list(legacy.read_pickle(FIXTURE))


def write_states(path, states):
    legacy._write_atomically(path, tuple(states))
    return path


# ---- crafted network pickles -----------------------------------------------------------------


def _self_referencing_bomb(depth=40):
    """A list whose flattening has 2**depth leaves but pickles to a few hundred bytes."""
    bomb = [0]
    for _ in range(depth):
        bomb = [bomb, bomb]
    return bomb


def crafted_pickles(tmp_path):
    """{name: (path, expected message pattern)} of broken or hostile network pickles."""
    marker = tmp_path / "marker"
    cases = {}

    def add(name, data=None, states=None, expect=None):
        path = tmp_path / f"{name}.pkl"
        if states is not None:
            write_states(path, states)
        else:
            path.write_bytes(data)
        cases[name] = (path, expect)

    states = fixture_states()
    states[1] = RunsCommand(f"touch {marker}")
    add("os_system", states=states, expect="refusing to load (posix|os).system")
    states = fixture_states()
    states[0].state["static_kwargs"]["blur_filter"] = _self_referencing_bomb()
    add("kwargs_bomb", states=states, expect="static_kwargs blur_filter")
    states = fixture_states()
    name, _ = states[1].state["variables"][0]
    states[1].state["variables"][0] = (name, _self_referencing_bomb())
    add("variable_bomb", states=states, expect=f"variable {re.escape(name)} is a list")
    states = fixture_states()
    states[1].state["static_kwargs"]["resolution"] = 16384
    add("huge_resolution", states=states, expect="resolution=16384 is outside")
    states = fixture_states()
    states[1].state["static_kwargs"]["fmap_max"] = 2 ** 20
    add("huge_fmaps", states=states, expect="fmap_max")
    # numpy.ndarray((2**31 - 1, 2**31 - 1)) in 38 bytes.
    add("ndarray_shape", b"\x80\x02cnumpy\nndarray\nq\x00(J\xff\xff\xff\x7fJ\xff\xff\xff\x7f\x86q\x01tq\x02Rq\x03.",
        expect="refusing an array")
    add("frame_overflow", b"\x80\x04\x95" + (2 ** 64 - 1).to_bytes(8, "little") + b".", expect="corrupt pickle")
    states = fixture_states()
    states[0].state["variables"] = 5
    add("variables_int", states=states, expect="variables is a int")
    states = fixture_states()
    component = next(iter(states[0].state["components"].values()))
    del component.state["name"]
    add("component_without_name", states=states, expect="lacks name")
    states = fixture_states()
    states[2].state["build_func_name"] = ["G_style"]
    add("build_func_list", states=states, expect="build_func_name is a list")
    states = fixture_states()
    name, _ = states[1].state["variables"][0]
    states[1].state["variables"][0] = (name, "not an array")
    add("string_value", states=states, expect=f"variable {re.escape(name)} is a str")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": 1}))
        archive.writestr("archive/version", "3\n")
    add("torch_zip", buffer.getvalue(), expect="PyTorch file")
    add("torch_legacy", pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2),
        expect="PyTorch file")
    return cases, marker


def test_loader_refuses_every_crafted_pickle_in_process(tmp_path):
    cases, marker = crafted_pickles(tmp_path)
    for name, (path, expect) in cases.items():
        if name in ("kwargs_bomb", "variable_bomb", "ndarray_shape", "huge_resolution", "huge_fmaps"):
            continue  # bounded-resource cases run in a subprocess below
        with pytest.raises(legacy.LegacyPickleError, match=expect):
            legacy.load_networks(path)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kwargs_bomb", "variable_bomb", "ndarray_shape", "huge_resolution",
                                  "huge_fmaps", "os_system", "frame_overflow"])
def test_loader_stays_bounded_under_a_memory_limit(tmp_path, name):
    cases, marker = crafted_pickles(tmp_path)
    path, expect = cases[name]
    code = ("import sys\nfrom stylegan_tf import legacy\n"
            "try:\n    legacy.load_networks(sys.argv[1])\n"
            "except legacy.LegacyPickleError as error:\n    print(f'Error: {error}', file=sys.stderr)\n"
            "    sys.exit(1)\n")
    returncode, lines, stderr = run_limited([sys.executable, "-c", code, str(path)], tmp_path, timeout=60)
    assert_clean_refusal(returncode, lines, stderr, marker, expect)


@pytest.mark.slow
@pytest.mark.parametrize("script,extra,second_case", [
    ("generate.py", ["--seeds=0", "--outdir=out"], "variables_int"),
    ("run_metrics.py", ["--metrics=dummy", "--outdir=out"], "torch_zip"),
    ("export.py", ["--outdir=out"], "variables_int"),
])
def test_entry_points_refuse_hostile_pickles(tmp_path, script, extra, second_case):
    # Every entry point refuses code execution; the other refusals come from the one shared loader,
    # so each script checks one of them.
    cases, marker = crafted_pickles(tmp_path)
    for name in ("os_system", second_case):
        path, expect = cases[name]
        returncode, lines, stderr = run_limited(
            [sys.executable, str(REPO_ROOT / script), f"--network={path}", *extra], tmp_path)
        assert_clean_refusal(returncode, lines, stderr, marker, expect)


@pytest.mark.slow
def test_train_resume_refuses_a_hostile_pickle_and_leaves_no_run_dir(tmp_path):
    cases, marker = crafted_pickles(tmp_path)
    path, expect = cases["os_system"]
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "train.py"), "--config=demo", f"--resume={path}",
         f"--data_dir={tmp_path / 'datasets'}", f"--outdir={tmp_path / 'results'}"], tmp_path, timeout=300)
    assert_clean_refusal(returncode, lines, stderr, marker, expect)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def _structural_positions(data):
    """Byte offsets of a pickle outside its long binary payloads (the arrays' raw data), where a
    mutation changes structure rather than just a weight value."""
    positions = []
    for opcode, arg, start in pickletools.genops(data):
        if isinstance(arg, (bytes, bytearray)) and len(arg) > 64:
            positions.extend(range(start, start + 16))  # the opcode and its length field only
        else:
            positions.append(start)
            if isinstance(arg, (str, int)):
                positions.extend(range(start + 1, start + 1 + min(8, len(str(arg)))))
    return np.asarray([p for p in positions if p < len(data)])


FUZZ_CASES = 120


def test_fuzzed_fixture_pickles_load_or_fail_clearly(tmp_path):
    """Seeded byte mutations of a real pickle's structure: each outcome is a LegacyPickleError or a
    load, never another exception; whatever loads is a whole network, which writes back and reads
    again with the same variables."""
    fixture = min(FIXTURES, key=lambda path: path.stat().st_size)
    original = fixture.read_bytes()
    positions = _structural_positions(original)
    rng = np.random.RandomState(2024)
    outcomes = {"loaded": 0, "refused": 0}
    path, written = tmp_path / "fuzz.pkl", tmp_path / "written.pkl"
    for _ in range(FUZZ_CASES):
        data = bytearray(original)
        for position in rng.choice(positions, size=rng.randint(1, 4)):
            data[position] = rng.randint(0, 256)
        path.write_bytes(bytes(data))
        try:
            networks = legacy.load_networks(path)
        except legacy.LegacyPickleError:
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        legacy.save_networks(written, *networks)
        for loaded, again in zip(networks, legacy.load_networks(written)):
            for (name, a), b in zip(legacy.original_variables(loaded).items(),
                                    legacy.original_variables(again).values()):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    # Most structural mutations break the pickle; some (a changed name or number) still load.
    assert outcomes["refused"] > FUZZ_CASES // 2 and outcomes["loaded"] > 0, outcomes


# ---- dataset sources ---------------------------------------------------------------------------


def test_cifar_batches_cannot_run_code(tmp_path):
    marker = tmp_path / "marker"
    source = tmp_path / "cifar"
    source.mkdir()
    for batch in range(1, 6):
        (source / f"data_batch_{batch}").write_bytes(pickle.dumps(RunsCommand(f"touch {marker}")))
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "dataset_tool.py"), "create_cifar10", str(tmp_path / "ds"), str(source)],
        tmp_path)
    assert_clean_refusal(returncode, lines, stderr, marker, expect="refusing to load (posix|os).system")
    assert not (tmp_path / "ds").exists()


def test_dataset_tool_unknown_flag_is_a_message(tmp_path):
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "dataset_tool.py"), "info", "x", "--bogus_flag"], tmp_path)
    assert_clean_refusal(returncode, lines, stderr, expect="bogus_flag")


# ---- PyTorch weight files ----------------------------------------------------------------------


def test_torch_tensor_views_are_checked_against_their_storage():
    good = torchscript_with_tensor((2, 3), (3, 1), 1, 8)
    tensors, _ = torch_files.read_torchscript(good)
    np.testing.assert_array_equal(tensors["weight"], np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    for size, stride, offset in [((1_000_000,), (1,), 0), ((4,), (1,), 6), ((2, 2), (100, 1), 0),
                                 ((3,), (-1,), 2), ((2,), (1, 1), 0)]:
        with pytest.raises(torch_files.TorchFileError):
            torch_files.read_torchscript(torchscript_with_tensor(size, stride, offset, 8))


def test_a_zip_bomb_weight_file_is_refused_before_it_expands(monkeypatch):
    monkeypatch.setattr(torch_files, "MAX_MEMBER_BYTES", 4 << 20)  # the real limit, 2 GiB, is slow to compress
    good = torchscript_with_tensor((2, 3), (3, 1), 1, 8)
    source = zipfile.ZipFile(io.BytesIO(good))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", source.read("archive/data.pkl"))
        archive.writestr("archive/data/0", bytes(5 << 20))  # 5 MiB of zeros in ~5 KB
    assert len(bomb.getvalue()) < 64 << 10
    with pytest.raises(torch_files.TorchFileError, match="archive/data/0 declares 5242880 bytes"):
        torch_files.read_torchscript(bomb.getvalue())


@pytest.mark.slow
def test_run_metrics_refuses_a_crafted_inception_file(tmp_path):
    path = tmp_path / "inception.pt"
    path.write_bytes(torchscript_with_tensor((1 << 30,), (1,), 0, 8))
    reals = write_random_dataset(tmp_path / "reals", 4, 128)
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "run_metrics.py"), f"--network={FIXTURE}", "--metrics=fid4",
         f"--inception={path}", f"--dataset={reals}", "--outdir=out"], tmp_path)
    assert returncode not in (-11, 139), stderr  # no segfault
    assert_clean_refusal(returncode, lines, stderr, expect="reach element")


@pytest.mark.slow
def test_a_corrupt_record_during_training_is_one_line(tmp_path):
    dataset = write_random_dataset(tmp_path / "datasets" / "bad", 32, 32, channels=1)
    for path in dataset.glob("*.tfrecords"):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "train.py"), "--config=demo", f"--data_dir={tmp_path / 'datasets'}",
         "--dataset=bad", f"--outdir={tmp_path / 'results'}", "--total_kimg=1"], tmp_path, timeout=300)
    assert_clean_refusal(returncode, lines, stderr, expect=r"Corrupt dataset file .*bad-r0\d\.tfrecords: record")


# ---- silent results ----------------------------------------------------------------------------


def test_metrics_refuse_reals_of_another_resolution_and_note_repeats(tmp_path, capsys):
    reals = write_random_dataset(tmp_path / "reals", 3, 8)
    Gs = types.SimpleNamespace(resolution=4, num_channels=3)
    with pytest.raises(ValueError, match="--resolution=4"):
        evaluation.check_reals_match(Gs, evaluation.EvaluationOptions(tfrecord_dir=str(reals)), 3)
    with pytest.raises(ValueError, match="1 channel"):
        evaluation.check_reals_match(types.SimpleNamespace(resolution=8, num_channels=1),
                                     evaluation.EvaluationOptions(tfrecord_dir=str(reals)), 3)
    evaluation.check_reals_match(Gs, evaluation.EvaluationOptions(tfrecord_dir=str(reals), resolution=4), 10)
    assert "10 real images requested but" in capsys.readouterr().err


@pytest.mark.slow
def test_diverged_training_stops_with_a_message_and_keeps_its_snapshots(tmp_path):
    results = tmp_path / "results"
    common = ["--config=demo", f"--data_dir={tmp_path / 'datasets'}", f"--outdir={results}"]
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "train.py"), *common, "--total_kimg=0.5",
         "--set=sched.tick_kimg_base=0.5"], tmp_path, timeout=300)
    assert returncode == 0, stderr
    (good_run,) = results.iterdir()
    good = sorted(path.name for path in good_run.glob("network-*.pkl"))
    assert good
    # Finite gradients, but weights the learning rate throws out of range: the command.
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "train.py"), *common, f"--resume={good_run}", "--total_kimg=2",
         "--set=sched.G_lrate_base=1e30", "--set=sched.D_lrate_base=1e30"], tmp_path, timeout=300)
    assert_clean_refusal(returncode, lines, stderr, expect="training diverged: every G update")
    (run_dir,) = [path for path in results.iterdir() if path != good_run]
    log = (run_dir / "log.txt").read_text()
    assert "skipped D" in log and "training diverged" in log
    assert not list(run_dir.glob("network-*.pkl"))  # nothing written from the diverged networks
    assert sorted(path.name for path in good_run.glob("network-*.pkl")) == good  # snapshots kept
    assert not (run_dir / "_finished.txt").exists() and not list(run_dir.glob(".*.tmp"))
    # A state file with non-finite Adam moments is refused before a run directory exists.
    state_file = good_run / good[-1].replace(".pkl", "-state.npz")
    arrays, meta = snapshots.load_state(str(state_file))
    key = next(key for key in arrays if key.startswith("TrainD/m/"))
    arrays[key] = np.full_like(arrays[key], np.nan)
    snapshots.save_state(str(state_file), arrays, meta)
    runs = sorted(results.iterdir())
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "train.py"), *common, f"--resume={good_run / good[-1]}",
         "--total_kimg=2"], tmp_path, timeout=300)
    assert_clean_refusal(returncode, lines, stderr,
                         expect=f"{re.escape(key)} holds non-finite values.*--resume_without_state")
    assert sorted(results.iterdir()) == runs


def test_skipped_updates_are_reported_and_a_fully_skipped_tick_stops():
    assert stats.skipped_updates({"TrainD/overflow_frequency": 0.0, "TrainG/overflow_frequency": 0.0}) == ("", None)
    note, stop = stats.skipped_updates({"TrainD/overflow_frequency": 0.25, "TrainG/overflow_frequency": 0.0})
    assert note == " skipped D 25% G 0%" and not stop
    assert stats.skipped_updates({"TrainD/overflow_frequency": 1.0, "TrainG/overflow_frequency": 1.0})[1]


def test_generation_refuses_non_finite_psi_and_weights():
    _, _, Gs = legacy.load_networks(FIXTURE)
    gen = generation.ImageGenerator(Gs)
    with pytest.raises(ValueError, match="finite"):
        generation.generate_images(gen, [0], truncation_psi=float("nan"))
    Gs.dlatent_avg.assign(np.full(Gs.dlatent_avg.shape, np.nan, np.float32))
    with pytest.raises(ValueError, match="non-finite W"):
        generation.generate_images(gen, [0], truncation_psi=0.5)


def test_truncated_state_file_names_itself_and_the_way_round(tmp_path):
    state_file = tmp_path / "network-snapshot-000010-state.npz"
    snapshots.save_state(str(state_file), {"a": np.arange(1000)}, {"version": resume.STATE_VERSION})
    state_file.write_bytes(state_file.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"network-snapshot-000010-state\.npz.*--resume_without_state"):
        resume.read_training_state(str(state_file))


def test_stale_temp_folders_of_a_killed_export_are_removed(tmp_path, capsys):
    target = tmp_path / "ds"
    stale = [tmp_path / ".ds.tmp-abc123", tmp_path / ".ds.old-xyz"]
    for folder in stale:
        (folder / "inner").mkdir(parents=True)
    other = tmp_path / ".other.tmp-1"
    other.mkdir()
    with writer.TFRecordExporter(str(target), progress=True) as exporter:
        exporter.add_image(np.zeros([1, 4, 4], np.uint8))
    assert not any(folder.exists() for folder in stale) and other.exists() and target.is_dir()
    assert "left by an interrupted run" in capsys.readouterr().out


def test_interrupted_snapshot_writes_are_removed_on_resume(tmp_path):
    pkl = tmp_path / "network-snapshot-000000.pkl"
    pkl.write_bytes(FIXTURE.read_bytes())
    leftover = tmp_path / ".network-snapshot-000012.pkl.k3j4.tmp"
    leftover.write_bytes(b"partial")
    messages = []
    resume.read_networks(str(pkl), messages.append)
    assert not leftover.exists() and any("interrupted snapshot" in message for message in messages)


# ---- projections and .npz files ------------------------------------------------------------------


def test_projection_targets_of_one_name_keep_separate_folders():
    from stylegan_tf import projection
    names = [name for name, _ in projection.unique_target_names(
        [("face", 1), ("face", 2), ("face-2", 3), ("other", 4), ("face", 5)])]
    assert names == ["face", "face-2", "face-2-2", "other", "face-3"] and len(set(names)) == len(names)


def test_sixteen_bit_targets_are_scaled_not_clipped(tmp_path):
    import PIL.Image

    from stylegan_tf import projection
    values = np.full([8, 8], 32768, np.uint16)
    values[0, 0] = 65535
    PIL.Image.fromarray(values).save(tmp_path / "gray16.png")
    with PIL.Image.open(tmp_path / "gray16.png") as image:
        assert image.mode.startswith("I")  # PIL's 16-bit grayscale
    for channels in (1, 3):
        image, _ = projection.load_target_image(tmp_path / "gray16.png", 8, channels)
        assert image.shape == (8, 8, channels)
        assert abs(float(image[4, 4, 0])) < 0.01 and image[0, 0, 0] == 1.0  # mid-grey, not white


def test_non_finite_or_oversized_projections_are_refused(tmp_path):
    from stylegan_tf import projection
    np.savez(tmp_path / "nan.npz", dlatents=np.full([1, 8, 4], np.nan, np.float32), noise0=np.zeros([1, 4, 4, 1]))
    with pytest.raises(ValueError, match="nan.npz: dlatents holds non-finite"):
        projection.load_projection(tmp_path / "nan.npz")
    # A member whose header declares 2**40 rows in a few bytes: refused before NumPy allocates.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2 ** 40, 8)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.writestr("dlatents.npy", np.lib.format.MAGIC_PREFIX + b"\x01\x00" + header.getvalue()[8:] + b"\0" * 64)
    with pytest.raises(ValueError, match=r"huge.npz: not a readable projection file \(dlatents.npy declares"):
        projection.load_projection(tmp_path / "huge.npz")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "objects.npz", "w") as archive:
        archive.write(tmp_path / "objects.npy", "dlatents.npy")
    with pytest.raises(ValueError, match="holds Python objects") as error:
        projection.load_projection(tmp_path / "objects.npz")
    assert "allow_pickle" not in str(error.value)


def test_state_files_with_a_list_header_or_huge_arrays_are_named(tmp_path):
    bad = tmp_path / "network-snapshot-000001-state.npz"
    np.savez(bad, __meta__=np.asarray(json.dumps([1, 2])), a=np.zeros(3))
    with pytest.raises(ValueError, match="state.npz.*--resume_without_state"):
        resume.read_training_state(str(bad))
    with pytest.raises(ValueError, match="header is a list"):
        snapshots.load_state(str(bad))


def test_a_two_channel_dataset_is_refused_before_a_run_directory_exists(tmp_path):
    import tensorflow as tf

    from stylegan_tf.dataset import tfrecord_format
    folder = tmp_path / "datasets" / "two"  # our writer refuses 2 channels; other tools may not
    folder.mkdir(parents=True)
    image = np.random.RandomState(0).randint(0, 256, [2, 8, 8]).astype(np.uint8)
    for level in tfrecord_format.mip_levels(image):
        with tf.io.TFRecordWriter(str(folder / f"two-r{int(np.log2(level.shape[1])):02d}.tfrecords")) as records:
            for _ in range(4):
                records.write(tfrecord_format.serialize_example(level))
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "train.py"), "--config=demo", f"--data_dir={tmp_path / 'datasets'}",
         "--dataset=two", f"--outdir={tmp_path / 'results'}", "--total_kimg=1"], tmp_path, timeout=300)
    assert_clean_refusal(returncode, lines, stderr, expect="holds 2-channel images; training takes grayscale")
    assert not (tmp_path / "results").exists()


def test_seed_ranges_and_cell_sizes_are_capped_before_allocating(tmp_path):
    from stylegan_tf import cli, figures
    with pytest.raises(ValueError, match="--seeds=0-999999999 names more than 1,000,000 seeds"):
        cli.parse_seeds("0-999999999")
    with pytest.raises(ValueError, match="names more than"):
        cli.parse_seeds("0-600000,0-600000")
    assert len(cli.parse_seeds("0-999999")) == cli.MAX_SEEDS
    with pytest.raises(ValueError, match="cell width .* 1 to 4096 pixels"):
        figures.cell_scale(100000, 256)
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "style_mixing.py"), f"--network={FIXTURE}", "--size=100000",
         f"--outdir={tmp_path}"], tmp_path)
    assert_clean_refusal(returncode, lines, stderr, expect="cell width")


def test_real_statistics_are_keyed_by_dataset_content(tmp_path, capsys):
    import shutil
    dataset_dir = write_random_dataset(tmp_path / "reals", 3, 8)
    options = evaluation.EvaluationOptions(tfrecord_dir=str(dataset_dir), cache_dir=str(tmp_path / "cache"))
    before = evaluation.real_statistics_cache_file(options, "fid3", num_images=3)
    assert evaluation.real_statistics_cache_file(options, "fid3", num_images=3) == before
    shutil.rmtree(dataset_dir)
    with writer.TFRecordExporter(str(dataset_dir), progress=False) as exporter:  # rebuilt at the same path
        for _ in range(3):
            exporter.add_image(np.zeros([3, 8, 8], np.uint8))
    assert evaluation.real_statistics_cache_file(options, "fid3", num_images=3) != before
    # A truncated cache file is reported, removed and recomputed, never a traceback.
    evaluation.save_npz_atomic(before, mu=np.zeros(4), sigma=np.eye(4))
    assert [value.shape for value in evaluation.load_cached_reals(before, ("mu", "sigma"))] == [(4,), (4, 4)]
    assert "Using the cached real-image statistics" in capsys.readouterr().err
    before.write_bytes(before.read_bytes()[:100])
    assert evaluation.load_cached_reals(before, ("mu", "sigma")) is None and not before.exists()
    assert "not a readable statistics cache" in capsys.readouterr().err


def test_declared_sizes_of_records_and_labels_are_checked_before_reading(tmp_path):
    import struct

    from stylegan_tf import dataset
    folder = tmp_path / "crafted"
    folder.mkdir()
    (folder / "crafted-r02.tfrecords").write_bytes(struct.pack("<Q", 2 ** 40) + b"\0" * 4)  # 12 bytes
    returncode, lines, stderr = run_limited(
        [sys.executable, "-c", f"from stylegan_tf import dataset; dataset.TFRecordDataset({str(folder)!r})"], tmp_path)
    assert returncode == 1 and "record 0 declares 1099511627776 bytes, more than the file holds" in stderr
    assert "MemoryError" not in stderr
    labelled = write_random_dataset(tmp_path / "labelled", 2, 4)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2 ** 40, 4)})
    (labelled / "labelled-rxx.labels").write_bytes(header.getvalue() + b"\0" * 32)
    with pytest.raises(ValueError, match=r"labelled-rxx.labels: not a readable label file \(.npy\) \(it declares"):
        dataset.TFRecordDataset(str(labelled), max_label_size="full")


@pytest.mark.slow
def test_sigterm_during_a_video_leaves_no_temporary_file(tmp_path):
    """SIGTERM unwinds like Ctrl-C in every script (cli.user_errors_as_messages), so the temporary
    file of a video being written is removed, and the exit status is 143."""
    import signal
    import time
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "generate.py"), f"--network={FIXTURE}", "--seeds=0-50",
         "--frames_per_seed=20", f"--video={tmp_path / 'walk.mp4'}"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".walk*")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert list(tmp_path.glob(".walk*")), "the video's temporary file never appeared"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "Interrupted."
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", ['{"sched": [1, 2]}', '{"desc": "x", "unknown_field": 1}', "not json",
                                     '["a", "list"]', '{"G_args": {"fmap_base": 1e9}}'])
def test_a_foreign_config_json_is_named(tmp_path, content):
    from stylegan_tf.training import config as config_lib
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ValueError, match=r"config.json: not a config.json of stylegan-tf .*--config"):
        config_lib.load_config_json(tmp_path / "config.json")


def test_tfrecords_of_other_tools_are_named(tmp_path):
    import tensorflow as tf

    from stylegan_tf import dataset
    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\x89PNG"]))}))
    foreign = ("is a tf.train.Example without the StyleGAN format's 'shape' and 'data' features "
               "\\(it has image/encoded\\)")
    for name, record, expect in (("tfds", example.SerializeToString(), foreign),
                                 ("junk", b"\xff\xff\xff not a protocol buffer", "is not a tf.train.Example")):
        (tmp_path / name).mkdir()
        with tf.io.TFRecordWriter(str(tmp_path / name / f"{name}-r02.tfrecords")) as records:
            records.write(record)
        with pytest.raises(ValueError, match=f'{name}-r02.tfrecords": record 0 {expect}'):
            dataset.TFRecordDataset(str(tmp_path / name))


@pytest.mark.parametrize("name, content", [("config.json", '["a", "list"]'), ("config.json", '{"dataset": [1]}'),
                                           ("config.txt", "{'dataset': ['x']}")])
def test_run_metrics_names_a_foreign_run_configuration(tmp_path, name, content):
    run_dir = tmp_path / "00000-run"
    run_dir.mkdir()
    (run_dir / "network-snapshot-000000.pkl").write_bytes(FIXTURE.read_bytes())
    (run_dir / name).write_text(content)
    returncode, lines, stderr = run_limited(
        [sys.executable, str(REPO_ROOT / "run_metrics.py"), f"--network={run_dir}", "--metrics=dummy"], tmp_path)
    assert_clean_refusal(returncode, lines, stderr, expect="00000-run: its config.json or config.txt is not a run "
                                                           "configuration")
