"""Crafted hostile files and the subprocess runner of the hostile-input tests (unit and e2e)."""
import io
import os
import pickle
import re
import resource
import subprocess
import sys
import types
import zipfile

import numpy as np

from stylegan_tf.dataset import writer

from conftest import REPO_ROOT, fixture_dirs

FIXTURES = [path / "network.pkl" for path in fixture_dirs("original-stylegan", "STYLEGAN_FIXTURES")
            if (path / "network.pkl").is_file()]
FIXTURE = FIXTURES[0]
MEMORY_LIMIT = 6 << 30  # address space of a loader subprocess (TensorFlow maps ~2 GiB by itself)
_LOG_LINE = re.compile(r"^(WARNING: All log messages|[IWEF]\d{4} |To enable the following|"
                       r"This TensorFlow binary|oneDNN custom operations)")


class RunsCommand:
    """Pickles to `os.system(command)`: what a malicious pickle would do on a plain pickle.load."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(args, cwd, timeout=120):
    """Runs a command with a memory limit; returns (returncode, error lines without TF's log)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                            preexec_fn=_limit_memory, stdin=subprocess.DEVNULL)
    lines = [line for line in result.stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
    return result.returncode, lines, result.stderr


def assert_clean_refusal(returncode, lines, stderr, marker=None, expect=None):
    assert returncode == 1, stderr
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    if expect:
        assert re.search(expect, lines[0]), lines[0]
    if marker is not None:
        assert not marker.exists(), "the crafted file ran code"


def torchscript_with_tensor(size, stride, offset, storage_elements):
    """A TorchScript-like archive whose one tensor declares `size`/`stride`/`offset` on a float32
    storage of `storage_elements` elements (pickled with stand-ins of torch's globals)."""
    fake_torch = types.ModuleType("torch")
    fake_utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while pickling")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    fake_torch.FloatStorage, fake_utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2

    class Storage:
        pass

    class Tensor:
        def __reduce__(self):
            return _rebuild_tensor_v2, (Storage(), offset, size, stride, False, {})

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, "0", "cpu", storage_elements)
            return None

    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = fake_torch, fake_utils
    try:
        data = io.BytesIO()
        Pickler(data, protocol=2).dump({"weight": Tensor()})
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", data.getvalue())
        archive.writestr("archive/data/0", np.arange(storage_elements, dtype="<f4").tobytes())
    return buffer.getvalue()


def write_random_dataset(path, count, resolution, channels=3):
    rng = np.random.RandomState(0)
    with writer.TFRecordExporter(str(path), progress=False) as exporter:
        for _ in range(count):
            exporter.add_image(rng.randint(0, 256, [channels, resolution, resolution]).astype(np.uint8))
    return path


# ---------------------------------------------------------------------------------------------
# stylegan2-ada-pytorch pickles, written without torch: stand-ins pickled under torch's global names.

def _torch_stand_ins():
    """Fake modules whose functions carry the global names a stylegan2-ada-pytorch pickle references."""
    modules = {name: types.ModuleType(name) for name in ("torch", "torch._utils", "torch.storage", "torch_utils",
                                                          "torch_utils.persistence")}
    names = {"torch._utils": ("_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_tensor_v3"),
             "torch.storage": ("_load_from_bytes",), "torch_utils.persistence": ("_reconstruct_persistent_obj",),
             "torch": ("load",)}
    for module, functions in names.items():
        for function in functions:
            def stand_in(*args):
                raise AssertionError("never called while pickling")
            stand_in.__module__, stand_in.__qualname__ = module, function
            setattr(modules[module], function, stand_in)
    for storage in ("FloatStorage", "BFloat16Storage"):
        cls = type(storage, (), {})
        cls.__module__ = "torch"
        setattr(modules["torch"], storage, cls)
    return modules


class _StandIns:
    def __enter__(self):
        self.modules = _torch_stand_ins()
        self.saved = {name: sys.modules.get(name) for name in self.modules}
        sys.modules.update(self.modules)
        return self.modules

    def __exit__(self, *exc):
        for name, module in self.saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def torch_storage_blob(values, declared=None, payload_count=None, storage="FloatStorage"):
    """A legacy torch.save blob of one storage holding `values` (float32); `declared`/`payload_count`
    override the element counts it states in its record and in front of its payload."""
    values = np.asarray(values, "<f4").ravel()
    declared = values.size if declared is None else declared
    with _StandIns() as modules:
        storage_class = getattr(modules["torch"], storage)

        class Record:
            pass

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                return ("storage", storage_class, "0", "cpu", declared, None) if isinstance(obj, Record) else None

        out = io.BytesIO()
        for item in (0x1950A86A20F9469CFC6C, 1001, dict(protocol_version=1001, little_endian=True,
                                                         type_sizes=dict(short=2, int=4, long=4))):
            pickle.dump(item, out, protocol=2)
        Pickler(out, protocol=2).dump(Record())
        pickle.dump(["0"], out, protocol=2)
    count = values.size if payload_count is None else payload_count
    return out.getvalue() + int(count).to_bytes(8, "little", signed=True) + values.tobytes()


class TorchStorage:
    def __init__(self, blob):
        self.blob = blob

    def __reduce__(self):
        return sys.modules["torch.storage"]._load_from_bytes, (self.blob,)


class TorchTensor:
    def __init__(self, blob, offset, size, stride, rebuild="_rebuild_tensor_v2"):
        self.storage, self.args, self.rebuild = TorchStorage(blob), (offset, tuple(size), tuple(stride)), rebuild

    def __reduce__(self):
        return getattr(sys.modules["torch._utils"], self.rebuild), (self.storage, *self.args, False, {})


class TorchModule:
    """A persistent object: `_reconstruct_persistent_obj(meta)`."""

    def __init__(self, class_name, module_src, params=None, modules=None, init_kwargs=None):
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name,
                         state=dict(training=False, _parameters=params or {}, _buffers={}, _modules=modules or {},
                                    _init_args=(), _init_kwargs=init_kwargs or {}))

    def __reduce__(self):
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,)


def torch_network_pickle(path, G=None, D=None, G_ema=None, **extra):
    """Writes a stylegan2-ada-pytorch-style training-loop dict of stand-ins; returns the path."""
    with _StandIns():
        path.write_bytes(pickle.dumps(dict(G=G, D=D, G_ema=G_ema, augment_pipe=None, **extra), protocol=4))
    return path
