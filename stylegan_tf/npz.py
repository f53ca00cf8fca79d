""".npz files a user hands us (projections, training states): every member's declared shape is
checked against the bytes it occupies before NumPy allocates it, no member may hold Python
objects, and a damaged file is an error that names it (never NumPy's advice to allow pickles)."""

import zipfile

import numpy as np

# zlib expands by at most ~1032x: a member claiming more than this many bytes per stored byte is a
# bomb, not a compressed array.
MAX_EXPANSION = 1100


def _check_member(path, archive, info):
    with archive.open(info) as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(file)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(file)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"{info.filename} holds Python objects, which are never loaded")
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if declared > info.file_size or info.file_size > max(info.compress_size, 1) * MAX_EXPANSION:
        raise ValueError(f"{info.filename} declares {list(shape)} {dtype} ({declared} bytes) but stores "
                         f"{info.compress_size} bytes")


def load(path, what="file"):
    """{name: array} of the .npz at `path`; ValueError naming the file for anything else."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    _check_member(path, archive, info)
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise ValueError(f"{path}: not a readable {what} ({error})") from None
