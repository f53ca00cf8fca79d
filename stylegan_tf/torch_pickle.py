"""The globals of a stylegan2-ada-pytorch / StyleGAN3 network pickle, as inert stand-ins: no torch, no code.

Such a file is `pickle.dump({'G': ..., 'D': ..., 'G_ema': ..., ...})` of `torch.nn.Module`s whose
classes are `torch_utils.persistence` classes: each pickles as `_reconstruct_persistent_obj(meta)`,
with the source of its defining module in `meta['module_src']`, which the original `exec`s. Here:

- `_reconstruct_persistent_obj` returns a `PersistentObject` (class name, SHA-256 of the module
  source, the module's `__dict__` state); the source is hashed, never run.
- every storage is a nested legacy `torch.save` blob (`_load_from_bytes`): its five small pickles are
  read with the same restricted unpickler (only the storage dtypes below are resolved) and its
  payload's element count is checked against the declared one and the blob's length;
- `_rebuild_tensor_v2` views a storage with the pickled offset, size and stride, each checked
  against the storage before anything is allocated, and copies it; `_rebuild_parameter` unwraps.

`globals_for(max_tensor_bytes)` is what `legacy`'s one unpickler adds to its allow-list (per file: the
tensor budget); every other global is refused.
"""

import collections
import hashlib
import io
import pickle

import numpy as np

from stylegan_tf import safe_pickle


class TorchPickleError(pickle.UnpicklingError):
    """Something in a PyTorch network pickle that the reader refuses."""


class PersistentObject:
    """One `torch_utils.persistence` object, inert: which class of which module source, and its state."""

    def __init__(self, class_name, module_sha256, state):
        self.class_name, self.module_sha256, self.state = class_name, module_sha256, state

    def __repr__(self):
        return f"PersistentObject({self.class_name!r}, module {self.module_sha256[:12]})"


class Storage:
    """A storage's elements as a flat NumPy array (read from its blob, never copied)."""

    def __init__(self, array):
        self.array = array


# torch.save's legacy format: the magic number, protocol version, then sys_info (serialization.py).
_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001
_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                   "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
_STORAGE_CLASSES = {("torch", name): dtype for name, dtype in _STORAGE_DTYPES.items()}
_MAX_DIMS = 16


class _BlobUnpickler(safe_pickle.RestrictedUnpickler):
    """The small pickles inside a storage blob: plain values, the storage dtype classes, and the one
    persistent id ('storage', dtype, key, location, numel, view) that names the payload."""

    def __init__(self, file):
        super().__init__(file, allowed=_STORAGE_CLASSES, max_array_bytes=0)
        self.storages = []

    def resolve_other(self, module, name):
        raise TorchPickleError(f"a storage blob refers to {module}.{name}, which is not a storage type "
                               f"this reader knows ({', '.join(_STORAGE_DTYPES)}; BFloat16 has no NumPy type)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise TorchPickleError(f"a storage blob holds an unexpected persistent id {str(pid)[:80]!r}")
        _, dtype, key, location, numel, view = pid
        if dtype not in _STORAGE_DTYPES.values() or not isinstance(key, str) or location != "cpu" \
                or not _is_count(numel) or view is not None:
            raise TorchPickleError(f"a storage blob declares an unreadable storage {str(pid)[:120]!r}")
        self.storages.append((key, np.dtype(dtype), numel))
        return None


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _load_from_bytes(blob):
    """A legacy torch.save blob of one storage -> Storage, every declared size checked against the blob."""
    if not isinstance(blob, bytes):
        raise TorchPickleError(f"a storage is a {type(blob).__name__}, expected the bytes of a torch.save blob")
    file = io.BytesIO(blob)

    def small_pickle(what):
        try:
            unpickler = _BlobUnpickler(file)
            return unpickler.load(), unpickler.storages
        except (EOFError, ValueError, TypeError, IndexError, KeyError) as error:
            raise TorchPickleError(f"a storage blob's {what} is corrupt ({type(error).__name__})") from None

    magic, protocol, sys_info = (small_pickle(what)[0] for what in ("magic", "protocol", "sys_info"))
    if magic != _MAGIC or protocol != _PROTOCOL_VERSION:
        raise TorchPickleError("a storage blob lacks torch.save's legacy magic number and protocol 1001")
    # (type_sizes is not checked: torch writes a constant 'long': 4 while the payload's count is 8 bytes.)
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian") is True):
        raise TorchPickleError(f"a storage blob was written on an unsupported machine ({str(sys_info)[:120]})")
    _, storages = small_pickle("storage record")
    keys, _ = small_pickle("key list")
    if len(storages) != 1 or keys != [storages[0][0]]:
        raise TorchPickleError("a storage blob must hold exactly one storage")
    _, dtype, numel = storages[0]
    header = file.read(8)
    if len(header) != 8 or int.from_bytes(header, "little", signed=True) != numel:
        raise TorchPickleError(f"a storage blob's payload does not hold the {numel} elements it declares")
    start = file.tell()
    if len(blob) - start != numel * dtype.itemsize:
        raise TorchPickleError(f"a storage blob of {numel} {dtype} elements has {len(blob) - start} payload "
                               "bytes")
    array = np.frombuffer(blob, dtype.newbyteorder("<"), numel, start)
    return Storage(array)


class TensorBudget:
    """Bounds what `_rebuild_tensor_v2` may allocate over one file: tensors are copies of storages, and
    a legitimate file stores each tensor's elements once, so their sum cannot exceed the file's size."""

    def __init__(self, max_bytes):
        self.left = max_bytes

    def take(self, nbytes):
        if nbytes > self.left:
            raise TorchPickleError(f"the tensors would take more than {self.left} more bytes than the file "
                                   "holds (a storage viewed many times?)")
        self.left -= nbytes


def _tensor_rebuilder(budget):
    def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                          metadata=None):
        if not isinstance(storage, Storage):
            raise TorchPickleError(f"a tensor's storage is a {type(storage).__name__}")
        size, stride = tuple(size) if isinstance(size, (tuple, list)) else size, \
            tuple(stride) if isinstance(stride, (tuple, list)) else stride
        if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= _MAX_DIMS
                and all(map(_is_count, size + stride)) and _is_count(storage_offset)):
            raise TorchPickleError(f"a tensor has an invalid size {str(size)[:80]}, stride {str(stride)[:80]} or "
                                   f"offset {str(storage_offset)[:40]}")
        if backward_hooks or metadata:
            raise TorchPickleError("a tensor carries backward hooks or metadata; network pickles hold none")
        numel = int(np.prod(size, dtype=object))
        available = storage.array.size
        last = storage_offset + sum((dim - 1) * step for dim, step in zip(size, stride)) if numel else -1
        if numel > available or last >= available or (numel == 0 and storage_offset > available):
            raise TorchPickleError(f"a tensor of size {list(size)}, stride {list(stride)}, offset {storage_offset} "
                                   f"reaches past its storage of {available} elements")
        budget.take(numel * storage.array.itemsize)
        itemsize = storage.array.itemsize
        view = np.lib.stride_tricks.as_strided(storage.array[storage_offset:], shape=size,
                                               strides=[step * itemsize for step in stride], writeable=False)
        return np.array(view, dtype=storage.array.dtype.newbyteorder("="), order="C")
    return rebuild_tensor_v2


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, np.ndarray) or backward_hooks:
        raise TorchPickleError("a parameter wraps something other than a plain tensor")
    return data


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict):
        raise TorchPickleError(f"a persistent object's record is a {type(meta).__name__}")
    source, class_name, state = meta.get("module_src"), meta.get("class_name"), meta.get("state")
    if meta.get("type") != "class" or not isinstance(source, str) or not isinstance(class_name, str) \
            or not isinstance(state, dict):
        raise TorchPickleError("a persistent object's record lacks its type, class name, module source or state")
    return PersistentObject(class_name, hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest(), state)


def globals_for(max_tensor_bytes):
    """{(module, name): stand-in} that a PyTorch network pickle may reference, for one file."""
    return {("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("torch._utils", "_rebuild_tensor_v2"): _tensor_rebuilder(TensorBudget(max_tensor_bytes)),
            ("torch.storage", "_load_from_bytes"): _load_from_bytes,
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("builtins", "set"): set}
