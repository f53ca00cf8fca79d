"""Hostile but realistic inputs through the public entry points (the command-line scripts), one case
per class of the hardening round: each is crafted here (nothing large or executable is committed),
run under an address-space limit, and must end within 30 s in exit status 1 and one line
`Error: <file>: <what is wrong>`, with no traceback and nothing half-written.
(The library-level tests of the same checks are in test_hostile_inputs.py and test_dataset_tool.py.)"""
import gzip
import io
import json
import struct
import sys
import time
import zipfile

import numpy as np
import pytest
from hostile_files import (
    FIXTURE,
    REPO_ROOT,
    assert_clean_refusal,
    run_limited,
    torchscript_with_tensor,
    write_random_dataset,
)

pytestmark = pytest.mark.slow


def _huge_npy_header(shape, descr="<f4"):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


def _mnist_bomb(folder):
    source = folder / "mnist"
    source.mkdir()
    with gzip.open(source / "train-images-idx3-ubyte.gz", "wb", compresslevel=9) as file:
        for _ in range(65):
            file.write(bytes(1 << 20))
    return ["dataset_tool.py", "create_mnist", "out", str(source)], "decompresses to more than"


def _hdf5(folder, kind):
    import h5py
    path = folder / f"{kind}.h5"
    (folder / "secret.bin").write_bytes(bytes(768))
    with h5py.File(path, "w") as file:
        if kind == "float":
            file["data16x16"] = np.random.RandomState(0).rand(2, 3, 16, 16)
        else:
            file.create_dataset("data16x16", (1, 3, 16, 16), np.uint8, external=[(str(folder / "secret.bin"), 0, 768)])
    expect = "holds float64 values" if kind == "float" else "keeps its data in other files"
    return ["dataset_tool.py", "create_from_hdf5", "out", str(path)], expect


def _lmdb(folder):
    import lmdb
    path = folder / "lsun"
    with lmdb.open(str(path), map_size=1 << 24) as env:
        with env.begin(write=True) as txn:
            for index in range(40):
                txn.put(f"{index:04d}".encode(), bytes(3000))
    (path / "data.mdb").write_bytes((path / "data.mdb").read_bytes()[:12288])
    return ["dataset_tool.py", "create_lsun", "out", str(path)], "is truncated or corrupt: its meta page"


def _projected_w(folder, kind):
    path = folder / f"{kind}.npz"
    if kind == "nan":
        np.savez(path, dlatents=np.full([1, 8, 4], np.nan, np.float32))
        expect = "dlatents holds non-finite"
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("dlatents.npy", _huge_npy_header((2 ** 40, 512)) + bytes(64))
        expect = "dlatents.npy declares"
    return ["generate.py", f"--network={FIXTURE}", f"--projected_w={path}", "--outdir=out"], expect


def _tfrecords(folder, kind):
    import tensorflow as tf
    path = folder / "records"
    path.mkdir()
    name = path / "records-r02.tfrecords"
    if kind == "length":
        name.write_bytes(struct.pack("<Q", 2 ** 40) + bytes(4))
        expect = "record 0 declares 1099511627776 bytes"
    else:
        example = tf.train.Example(features=tf.train.Features(feature={
            "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\x89PNG"]))}))
        with tf.io.TFRecordWriter(str(name)) as records:
            records.write(example.SerializeToString())
        expect = "without the StyleGAN format's 'shape' and 'data' features"
    return ["dataset_tool.py", "info", str(path)], expect


def _inception_bomb(folder):
    # A stored member whose central-directory size claims 3 GiB: refused before decompressing.
    data = bytearray(torchscript_with_tensor((2, 3), (3, 1), 1, 8))
    directory = data.rfind(b"PK\x01\x02")  # the last member's central-directory entry (archive/data/0)
    data[directory + 24:directory + 28] = (3 << 30).to_bytes(4, "little")
    path = folder / "inception.pt"
    path.write_bytes(bytes(data))
    reals = folder / "reals"
    write_random_dataset(reals, 4, 128)  # FIXTURE's resolution
    return (["run_metrics.py", f"--network={FIXTURE}", "--metrics=fid4", f"--inception={path}", f"--dataset={reals}",
             "--outdir=out"], "declares 3221225472 bytes")


def _dev_zero_cache(folder):
    from stylegan_tf import downloads
    path = downloads.cache_path(downloads.REGISTRY["fid-inception-v3"], folder / "cache")
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/zero")
    reals = folder / "reals"
    write_random_dataset(reals, 4, 128)
    return (["run_metrics.py", f"--network={FIXTURE}", "--metrics=fid4", f"--dataset={reals}", "--outdir=out"],
            "not in the cache and downloads are off",
            {"STYLEGAN_CACHE": str(folder / "cache"), "STYLEGAN_OFFLINE": "1"})


def _state_file(folder, kind):
    run = folder / "00000-run"
    run.mkdir()
    (run / "network-snapshot-000000.pkl").write_bytes(FIXTURE.read_bytes())
    state = run / "network-snapshot-000000-state.npz"
    if kind == "list":
        np.savez(state, __meta__=np.asarray(json.dumps([1, 2])))
        expect = "header is a list"
    else:
        with zipfile.ZipFile(state, "w") as archive:
            archive.writestr("__meta__.npy", _huge_npy_header((2 ** 40,)) + bytes(64))
        expect = "__meta__.npy declares"
    write_random_dataset(folder / "datasets" / "tiny", 4, 8)
    return (["train.py", "--config=demo", f"--data_dir={folder / 'datasets'}", "--dataset=tiny",
             f"--outdir={folder / 'results'}", f"--resume={run / 'network-snapshot-000000.pkl'}", "--total_kimg=1"],
            expect)


def _foreign_config(folder):
    run = folder / "00000-run"
    run.mkdir()
    (run / "network-snapshot-000000.pkl").write_bytes(FIXTURE.read_bytes())
    (run / "config.json").write_text('{"sched": [1, 2]}')
    return ["train.py", f"--resume={run}", f"--outdir={folder / 'results'}"], "not a config.json of stylegan-tf"


CASES = {
    # crashes and silent wrong results
    "lmdb_sigbus": _lmdb,
    "hdf5_float": lambda folder: _hdf5(folder, "float"),
    "hdf5_external": lambda folder: _hdf5(folder, "external"),
    "projected_w_nan": lambda folder: _projected_w(folder, "nan"),
    # small files, large memory
    "mnist_gzip_bomb": _mnist_bomb,
    "record_length_2e40": lambda folder: _tfrecords(folder, "length"),
    "projected_w_2e40_rows": lambda folder: _projected_w(folder, "huge"),
    "state_npz_2e40": lambda folder: _state_file(folder, "huge"),
    "inception_zip_bomb": _inception_bomb,
    "cache_link_to_dev_zero": _dev_zero_cache,
    "seeds_0_999999999": lambda folder: (["generate.py", f"--network={FIXTURE}", "--seeds=0-999999999"],
                                         "names more than 1,000,000 seeds"),
    "style_mixing_size_100000": lambda folder: (["style_mixing.py", f"--network={FIXTURE}", "--size=100000"],
                                                "cell width"),
    # tracebacks where a message belongs
    "tfds_example": lambda folder: _tfrecords(folder, "tfds"),
    "state_header_list": lambda folder: _state_file(folder, "list"),
    "foreign_config_json": _foreign_config,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_through_its_script(tmp_path, case, monkeypatch):
    made = CASES[case](tmp_path)
    args, expect, env = made if len(made) == 3 else (*made, {})
    before = sorted(path.name for path in tmp_path.iterdir())
    for key, value in env.items():  # run_limited passes the environment on
        monkeypatch.setenv(key, value)
    start = time.time()
    returncode, lines, stderr = run_limited([sys.executable, str(REPO_ROOT / args[0]), *args[1:]], tmp_path,
                                            timeout=60)
    assert time.time() - start <= 30, f"{case} took {time.time() - start:.0f} s"
    assert returncode not in (-7, -9, -11, 135, 137, 139), stderr[-2000:]  # no crash signal
    lines = [line for line in lines if not line.startswith("Warning: ")]  # e.g. a cache entry moved aside
    assert_clean_refusal(returncode, lines, stderr, expect=expect)
    after = sorted(path.name for path in tmp_path.iterdir())
    assert after == before and not (tmp_path / "out").exists(), (before, after)  # nothing half-written
