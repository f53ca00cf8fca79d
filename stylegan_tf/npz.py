""".npy and .npz files a user hands us (projections, training states): every member's declared shape is
checked against the bytes it occupies before NumPy allocates it, no member may hold Python
objects, and a damaged file is an error that names it (never NumPy's advice to allow pickles)."""

import os
import zipfile

import numpy as np

# zlib expands by at most ~1032x: a member claiming more than this many bytes per stored byte is a
# bomb, not a compressed array.
MAX_EXPANSION = 1100


def _read_header(file, name):
    """(shape, dtype, declared bytes) of the .npy header at the file's position; objects refused."""
    version = np.lib.format.read_magic(file)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(file)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(file)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"{name} holds Python objects, which are never loaded")
    return shape, dtype, int(np.prod(shape, dtype=np.float64)) * dtype.itemsize


def _check_member(path, archive, info):
    with archive.open(info) as file:
        shape, dtype, declared = _read_header(file, info.filename)
    if declared > info.file_size or info.file_size > max(info.compress_size, 1) * MAX_EXPANSION:
        raise ValueError(f"{info.filename} declares {list(shape)} {dtype} ({declared} bytes) but stores "
                         f"{info.compress_size} bytes")


def load_npy(path, what="file"):
    """The array of the .npy file at `path`, its declared size checked against the file's first;
    ValueError naming the file for anything else."""
    try:
        with open(path, "rb") as file:
            shape, dtype, declared = _read_header(file, "the file")
            stored = os.fstat(file.fileno()).st_size - file.tell()
        if declared > stored:
            raise ValueError(f"it declares {list(shape)} {dtype} ({declared} bytes) but holds {stored} bytes")
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path}: not a readable {what} ({error})") from None


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
