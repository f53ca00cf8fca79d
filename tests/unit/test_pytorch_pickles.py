"""Reading stylegan2-ada-pytorch pickles without torch: what is refused, in one line, before anything runs
or is allocated (crafted files written with stand-ins of torch's globals, `hostile_files`)."""

import hashlib
import json
import sys

import numpy as np
import pytest
from hostile_files import (
    TorchModule,
    TorchTensor,
    assert_clean_refusal,
    run_limited,
    torch_network_pickle,
    torch_storage_blob,
)

from stylegan_tf import augment, legacy, pytorch_networks, torch_pickle

from conftest import REPO_FIXTURES_DIR

FIXTURE = REPO_FIXTURES_DIR / "original-ada-pytorch" / "adapt-cond-gray32"


def _tensor_pickle(tmp_path, tensor):
    """A pickle whose G holds one parameter: the tensor case under test."""
    G = TorchModule("Generator", "", params={"weight": tensor})
    return torch_network_pickle(tmp_path / "tensor.pkl", G=G, D=G, G_ema=G)


def test_a_fixture_parses_into_inert_records():
    data = legacy.read_pickle(FIXTURE / "network.pkl")
    assert set(data) == {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}
    G = data["G"]
    assert isinstance(G, torch_pickle.PersistentObject) and G.class_name == "Generator"
    weights = pytorch_networks.tensors(G)
    assert weights["synthesis.b4.const"].shape == (32, 4, 4) and weights["synthesis.b4.const"].dtype == np.float32
    assert weights["mapping.embed.weight"].shape == (16, 3)  # [out, in] as PyTorch stores it
    meta = json.loads((FIXTURE / "meta.json").read_text())
    assert G.module_sha256 in meta["placeholder_sha256"]


def test_an_unknown_module_source_is_refused_naming_the_class():
    with pytest.raises(legacy.LegacyPickleError, match=r"G \(Generator\) was pickled with a module source that is "
                                                       r"not one of the releases' \(SHA-256 [0-9a-f]{64}\)"):
        legacy.load_networks(FIXTURE / "network.pkl")


def test_module_source_that_would_run_code_is_hashed_never_executed(tmp_path):
    marker = tmp_path / "ran"
    source = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nclass Generator: pass\n"
    G, D = TorchModule("Generator", source), TorchModule("Discriminator", source)
    path = torch_network_pickle(tmp_path / "code.pkl", G=G, D=D, G_ema=G)
    digest = hashlib.sha256(source.encode()).hexdigest()
    with pytest.raises(legacy.LegacyPickleError, match=f"SHA-256 {digest}"):
        legacy.load_networks(path)
    assert not marker.exists()
    # Even when trusted, the source is only a hash: the networks are rebuilt from kwargs (here: none).
    with pytest.raises(legacy.LegacyPickleError, match="Generator: its constructor arguments lack z_dim, c_dim"):
        legacy.load_networks(path, trusted_sources=(digest,))
    assert not marker.exists()


@pytest.mark.parametrize("size,stride,offset,expect", [
    ((4, 4), (100, 1), 0, "reaches past its storage of 16 elements"),
    ((4, 4), (4, 1), 1, "reaches past its storage"),
    ((10 ** 6, 10 ** 6), (0, 0), 0, "reaches past its storage"),   # a stride-0 view of 10^12 elements
    ((4, -4), (4, 1), 0, "invalid size"),
    ((4, 4), (4, 1), -1, "invalid size"),
    (tuple([1] * 40), tuple([1] * 40), 0, "invalid size"),
])
def test_tensor_views_are_checked_against_their_storage(tmp_path, size, stride, offset, expect):
    blob = torch_storage_blob(np.arange(16))
    with pytest.raises(legacy.LegacyPickleError, match=expect):
        legacy.read_pickle(_tensor_pickle(tmp_path, TorchTensor(blob, offset, size, stride)))


@pytest.mark.parametrize("kwargs,expect", [
    (dict(declared=10 ** 12), "does not hold the 1000000000000 elements it declares"),
    (dict(payload_count=10 ** 12), "does not hold the 16 elements"),
    (dict(declared=20, payload_count=20), "has 64 payload bytes"),
    (dict(storage="BFloat16Storage"), "torch.BFloat16Storage, which is not a storage type"),
])
def test_storage_blobs_are_checked_against_their_declared_sizes(tmp_path, kwargs, expect):
    blob = torch_storage_blob(np.arange(16), **kwargs)
    with pytest.raises(legacy.LegacyPickleError, match=expect):
        legacy.read_pickle(_tensor_pickle(tmp_path, TorchTensor(blob, 0, (16,), (1,))))


def test_a_storage_viewed_many_times_cannot_exceed_the_files_size(tmp_path):
    blob = torch_storage_blob(np.zeros(1 << 16))  # 256 KiB, stored once (memoized), viewed by 64 tensors
    tensors = [TorchTensor(blob, 0, (1 << 16,), (1,)) for _ in range(64)]
    for tensor in tensors:
        tensor.storage = tensors[0].storage
    G = TorchModule("Generator", "", params={f"w{i}": tensor for i, tensor in enumerate(tensors)})
    path = torch_network_pickle(tmp_path / "views.pkl", G=G, D=G, G_ema=G)
    with pytest.raises(legacy.LegacyPickleError, match="more than .* bytes than the file holds"):
        legacy.read_pickle(path)


@pytest.mark.parametrize("rebuild", ["_rebuild_tensor_v3"])
def test_globals_outside_the_list_are_refused(tmp_path, rebuild):
    blob = torch_storage_blob(np.arange(16))
    with pytest.raises(legacy.LegacyPickleError, match=f"refusing to load torch._utils.{rebuild}: not one of"):
        legacy.read_pickle(_tensor_pickle(tmp_path, TorchTensor(blob, 0, (16,), (1,), rebuild=rebuild)))


def test_wrong_classes_and_missing_networks_are_named(tmp_path):
    G = TorchModule("SomethingElse", "")
    source = hashlib.sha256(b"").hexdigest()
    path = torch_network_pickle(tmp_path / "other.pkl", G=G, D=G, G_ema=G)
    with pytest.raises(legacy.LegacyPickleError, match="G is a SomethingElse; the releases' is a Generator."):
        legacy.load_networks(path, trusted_sources=(source,))
    G = TorchModule("Generator", "")
    path = torch_network_pickle(tmp_path / "missing.pkl", G=G, G_ema=G)
    with pytest.raises(legacy.LegacyPickleError, match="'D' entry is missing"):
        legacy.load_networks(path, trusted_sources=(source,))


def test_unknown_kwargs_and_inexpressible_shapes_are_refused():
    kwargs = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3)
    with pytest.raises(pytorch_networks.PyTorchPickleError, match="unknown argument 'magic'"):
        pytorch_networks.generator_kwargs({**kwargs, "magic": 1})
    with pytest.raises(pytorch_networks.PyTorchPickleError, match="channel_base 1001"):
        pytorch_networks.generator_kwargs({**kwargs, "synthesis_kwargs": {"channel_base": 1001}})
    with pytest.raises(pytorch_networks.PyTorchPickleError, match="differs from cmap_dim"):
        pytorch_networks.discriminator_kwargs(dict(c_dim=2, img_resolution=8, img_channels=3, cmap_dim=16,
                                                   mapping_kwargs={"embed_features": 8}))
    # The PyTorch defaults that the TF release does not share are written out explicitly.
    converted = pytorch_networks.discriminator_kwargs(dict(c_dim=2, img_resolution=8, img_channels=3))
    assert (converted["mapping_layers"], converted["mapping_lrmul"], converted["mbstd_group_size"],
            converted["mapping_fmaps"], converted["fmap_base"]) == (8, 0.01, 4, 512, 16384)


def test_a_tampered_filter_or_extra_tensor_is_refused(tmp_path):
    data = legacy.read_pickle(FIXTURE / "network.pkl")
    block = data["G"].state["_modules"]["synthesis"].state["_modules"]["b8"]
    block.state["_buffers"]["resample_filter"] = block.state["_buffers"]["resample_filter"] * 2
    kwargs = pytorch_networks.generator_kwargs(pytorch_networks.init_kwargs(data["G"],
                                                                            pytorch_networks.GENERATOR_ARGS))
    with pytest.raises(pytorch_networks.PyTorchPickleError, match="synthesis.b8.resample_filter is not the filter"):
        pytorch_networks.generator_variables(data["G"], kwargs)
    block.state["_buffers"]["resample_filter"] = block.state["_buffers"]["resample_filter"] / 2
    block.state["_parameters"]["extra"] = np.zeros(3, np.float32)
    with pytest.raises(pytorch_networks.PyTorchPickleError, match="'synthesis.b8.extra' that the release's"):
        pytorch_networks.generator_variables(data["G"], kwargs)


@pytest.mark.slow
def test_the_loader_stays_bounded_under_a_memory_limit(tmp_path):
    blob = torch_storage_blob(np.arange(16))
    path = _tensor_pickle(tmp_path, TorchTensor(blob, 0, (1 << 20, 1 << 20), (0, 0)))
    code = ("import sys\nfrom stylegan_tf import legacy\n"
            "try:\n    legacy.load_networks(sys.argv[1])\n"
            "except legacy.LegacyPickleError as error:\n    print(f'Error: {error}', file=sys.stderr)\n"
            "    sys.exit(1)\n")
    returncode, lines, stderr = run_limited([sys.executable, "-c", code, str(path)], tmp_path, timeout=60)
    assert_clean_refusal(returncode, lines, stderr, expect="reaches past its storage")


def test_the_augment_pipe_is_read_into_the_pipeline():
    directory = REPO_FIXTURES_DIR / "original-ada-pytorch" / "adapt-auto-rgb32"
    meta = json.loads((directory / "meta.json").read_text())
    ops, p = legacy.load_augment_settings(directory / "network.pkl", tuple(meta["placeholder_sha256"]))
    assert p == pytest.approx(meta["augment_p"])
    assert augment.AugmentPipeline(None, **ops).ops == augment.pipeline_ops(meta["augment"])
    assert legacy.load_augment_settings(FIXTURE / "network.pkl") is None  # this one was pickled without
    data = legacy.read_pickle(directory / "network.pkl")
    data["augment_pipe"].state["_buffers"]["Hz_geom"] = data["augment_pipe"].state["_buffers"]["Hz_geom"][::-1]
    with pytest.raises(pytorch_networks.PyTorchPickleError, match="not the release's sym6 wavelet"):
        pytorch_networks.augment_settings(data, tuple(meta["placeholder_sha256"]))


def test_a_known_module_source_is_recorded_on_the_networks(monkeypatch):
    """A file pickled with one of the releases' sources loads without trust and says which version."""
    meta = json.loads((FIXTURE / "meta.json").read_text())
    placeholder = next(digest for digest, path in meta["placeholder_sha256"].items() if path.endswith("networks.py"))
    release = pytorch_networks.KNOWN_MODULE_SOURCES["53b4e1ec457171d4e2c1454d48013765ab626141c35cdd383b020950effe11a5"]
    monkeypatch.setitem(pytorch_networks.KNOWN_MODULE_SOURCES, placeholder, release)
    G, _, _ = legacy.load_networks(FIXTURE / "network.pkl")
    assert G.source_format == "pytorch: stylegan2-ada-pytorch training/networks.py (commit 375a436, 2021-01-30)"


def test_training_resumes_from_a_pytorch_pickle_only_with_its_source_trusted():
    """train.py --resume reads these files through the same loader; --trusted_source reaches it through
    the config (resume_trusted_sources), which refuses anything but SHA-256s."""
    from stylegan_tf.training import config as config_lib
    from stylegan_tf.training import resume
    config = config_lib.resolve_config("demo-ada")
    with pytest.raises(legacy.LegacyPickleError, match="not one of the releases'"):
        resume.read_resume(str(FIXTURE / "network.pkl"), config, lambda *a, **k: None)
    config.resume_trusted_sources = list(json.loads((FIXTURE / "meta.json").read_text())["placeholder_sha256"])
    config.validate()
    inputs = resume.read_resume(str(FIXTURE / "network.pkl"), config, lambda *a, **k: None)
    assert [net.FUNC_NAME for net in inputs.networks] == ["G_main", "D_main", "G_main"] and inputs.state is None
    config.resume_trusted_sources = ["not a hash"]
    with pytest.raises(ValueError, match="resume_trusted_sources must be a list of SHA-256s"):
        config.validate()
