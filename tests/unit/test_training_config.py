"""Presets, overrides and serialization of the training config; run-directory helpers."""
import ast
import json
import os
import re

import numpy as np
import PIL.Image
import pytest

from stylegan_tf import images as image_utils
from stylegan_tf import pretrained
from stylegan_tf.training import config as config_lib
from stylegan_tf.training import snapshots

from conftest import fixture_dirs

FIXTURE_PKL = fixture_dirs("original-stylegan")[0] / "network.pkl"


def test_ffhq_8gpu_is_the_original_default():
    config = config_lib.preset("ffhq-8gpu")
    assert config.desc == "sgan-ffhq-8gpu" and config_lib.preset("ffhq").desc == config.desc
    assert config.dataset.tfrecord_dir == "ffhq" and config.mirror_augment is True
    assert config.num_gpus == 8 and config.total_kimg == 25000
    sched = config.sched
    assert (sched.lod_initial_resolution, sched.lod_training_kimg,
            sched.lod_transition_kimg) == (8, 600, 600)
    assert sched.minibatch_base == 32
    assert sched.minibatch_dict == {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}
    assert sched.G_lrate_dict == sched.D_lrate_dict == {128: 0.0015, 256: 0.002, 512: 0.003,
                                                        1024: 0.003}
    assert sched.tick_kimg_dict[1024] == 20 and sched.tick_kimg_base == 160
    assert (config.G_loss.func_name, config.D_loss.func_name) == ("G_logistic_nonsaturating",
                                                                  "D_logistic_simplegp")
    assert config.D_loss.kwargs == {"r1_gamma": 10.0}
    assert (config.G_opt.beta1, config.G_opt.beta2, config.G_opt.epsilon) == (0.0, 0.99, 1e-8)
    assert (config.G_smoothing_kimg, config.D_repeats, config.minibatch_repeats) == (10.0, 1, 4)
    assert config.reset_opt_for_new_lod and config.network_snapshot_ticks == 10
    assert config.random_seed == 1000 and config.xla == "auto" and config.grid.size == "4k"
    assert config.G_args == {} and config.D_args == {}


@pytest.mark.parametrize("gpus,base,table", [
    (1, 4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
    (2, 8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
    (4, 16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16})])
def test_gpu_tables(gpus, base, table):
    config = config_lib.preset(f"celebahq-{gpus}gpu")
    assert config.num_gpus == gpus and config.sched.minibatch_base == base
    assert config.sched.minibatch_dict == table


def test_datasets():
    expected = {"ffhq512": ("ffhq", 512, True), "ffhq256": ("ffhq", 256, True),
                "bedroom": ("lsun-bedroom-full", None, False),
                "car": ("lsun-car-512x384", None, False), "cat": ("lsun-cat-full", None, False)}
    for name, (directory, resolution, mirror) in expected.items():
        config = config_lib.preset(f"{name}-2gpu")
        assert (config.dataset.tfrecord_dir, config.dataset.resolution,
                config.mirror_augment) == (directory, resolution, mirror)


def test_variants():
    baseline = config_lib.preset("ffhq-1gpu-tuned-baseline")
    assert baseline.G_args == dict(use_styles=False, use_pixel_norm=True,
                                   use_instance_norm=False, mapping_layers=0,
                                   truncation_psi=None, const_input_layer=False,
                                   style_mixing_prob=0.0, use_noise=False)
    assert config_lib.preset("ffhq-1gpu-traditional-8").G_args["mapping_layers"] == 8
    assert config_lib.preset("ffhq-1gpu-add-noise-inputs").G_args == {"style_mixing_prob": 0.0}
    assert config_lib.preset("ffhq-1gpu-mixing-regularization").G_args == {}
    combined = config_lib.preset("celebahq-2gpu-wgangp-mix50")
    assert combined.desc == "sgan-celebahq-2gpu-wgangp-mix50"
    assert (combined.G_loss.func_name, combined.D_loss.func_name) == ("G_wgan", "D_wgan_gp")
    assert combined.sched.G_lrate_dict == {128: 0.0015, 256: 0.002, 512: 0.002, 1024: 0.002}
    assert combined.G_args == {"style_mixing_prob": 0.5}
    for name in ("foo", "ffhq-3gpu", "ffhq-1gpu-mix51", "ffhq-1gpuX"):
        with pytest.raises(ValueError):
            config_lib.preset(name)


def test_demo_preset_is_small_and_valid():
    config = config_lib.resolve_config("demo")
    assert config.dataset.tfrecord_dir == config_lib.DEMO_DATASET
    assert config.G_args["fmap_base"] <= 256 and config.total_kimg <= 64
    assert config_lib.grid_size(config.grid.size, 32) == (10, 6)


def test_overrides():
    config = config_lib.resolve_config("ffhq-1gpu", [
        "sched.lod_training_kimg=10", "G_args.fmap_base=256", "D_loss.kwargs.r1_gamma=5",
        "total_kimg=100", "mirror_augment=false", "sched.minibatch_dict={4: 64}",
        "dataset.tfrecord_dir=faces", "grid.size=8x4"])
    assert config.sched.lod_training_kimg == 10.0 and config.G_args["fmap_base"] == 256
    assert config.D_loss.kwargs == {"r1_gamma": 5} and config.total_kimg == 100.0
    assert config.mirror_augment is False and config.sched.minibatch_dict == {4: 64}
    assert config.dataset.tfrecord_dir == "faces" and config.grid.size == "8x4"
    for bad in ("sched.foo=1", "total_kimg=abc", "sched=1", "novalue", "strategy=gpu",
                "grid.layout=row_per_class", "sched.lod_initial_resolution=12",
                "D_loss.func_name=D_foo", "minibatch_repeats=0", "grid.size=big"):
        with pytest.raises(ValueError):
            config_lib.resolve_config("demo", [bad])


def test_json_round_trip_keeps_int_keys():
    config = config_lib.resolve_config("ffhq-2gpu-wgangp", ["G_args.mapping_layers=2"])
    data = json.loads(config_lib.to_json(config))
    assert data["sched"]["minibatch_dict"]["4"] == 256
    restored = config_lib.from_dict(data)
    assert config_lib.to_dict(restored) == config_lib.to_dict(config)
    assert restored.sched.minibatch_dict[4] == 256
    with pytest.raises(ValueError):
        config_lib.from_dict(dict(data, bogus=1))


def test_original_config_text_parses_like_the_original():
    config = config_lib.resolve_config("bedroom-4gpu", ["dataset.resolution=128"])
    text = config_lib.original_config_text(config)
    values = ast.literal_eval(text)
    assert values["dataset"] == {"tfrecord_dir": "lsun-bedroom-full", "resolution": 128}
    assert values["train"]["mirror_augment"] is False
    # The original's misc.parse_config_for_previous_run: regex per line, then exec.
    parsed = {}
    for line in text.splitlines():
        line = re.sub(r"^{?\s*'(\w+)':\s*{(.*)(},|}})$", r"\1 = {\2}", line.strip())
        if line.startswith("dataset =") or line.startswith("train ="):
            exec(line, parsed, parsed)  # noqa: S102  (what the original does)
    assert parsed["dataset"]["tfrecord_dir"] == "lsun-bedroom-full"
    assert parsed["train"]["mirror_augment"] is False


def test_grid_sizes():
    assert config_lib.grid_size("4k", 1024) == (7, 4)
    assert config_lib.grid_size("4k", 256) == (15, 8)
    assert config_lib.grid_size("4k", 32) == (32, 32)
    assert config_lib.grid_size("1080p", 1024) == (3, 2)
    assert config_lib.grid_size("1080p", 128) == (15, 8)
    assert config_lib.grid_size("6x3", 64) == (6, 3)


def test_image_grid_layout_and_rounding(tmp_path):
    images = np.zeros([5, 2, 3, 1], np.float32)
    for index in range(5):
        images[index] = index
    grid = image_utils.grid_uint8(images, (3, 2), [0, 255])
    assert grid.shape == (4, 9, 1)
    assert grid[0, 3, 0] == 1 and grid[2, 0, 0] == 3 and grid[2, 3, 0] == 4 and grid[3, 8, 0] == 0
    path = tmp_path / "grid.png"
    # rint (half to even) after mapping [-1, 1] -> [0, 255], then clip: as the original's grids.
    values = np.array([-1.0, -0.999, 0.0, 0.5, 1.0, 2.0], np.float32).reshape(1, 1, 6, 1)
    image_utils.save_image_grid(values, str(path), [-1, 1], (1, 1))
    with PIL.Image.open(path) as image:
        assert image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image)[0], [0, 0, 128, 191, 255, 255])
    assert os.listdir(tmp_path) == ["grid.png"]


def test_run_dirs_snapshots_and_state(tmp_path):
    results = str(tmp_path / "results")
    first = snapshots.create_run_dir(results, "sgan-demo")
    second = snapshots.create_run_dir(results, "sgan-demo")
    assert os.path.basename(first) == "00000-sgan-demo"
    assert os.path.basename(second) == "00001-sgan-demo"
    assert snapshots.locate_run_dir("1", results) == second
    assert snapshots.locate_run_dir(first, results) == first
    with pytest.raises(OSError):
        snapshots.locate_run_dir("7", results)
    with pytest.raises(ValueError, match="without network snapshots"):
        pretrained.resolve_network(second, result_dir=results)
    for kimg in (0, 4, 12, 8):
        path = os.path.join(second, snapshots.snapshot_name(kimg))
        open(path, "wb").close()
        snapshots.save_state(snapshots.state_path(path), {"a": np.arange(3)}, {"cur_nimg": kimg})
    assert pretrained.resolve_network("1", result_dir=results).name == "network-snapshot-000012.pkl"
    open(os.path.join(second, "network-final.pkl"), "wb").close()
    names = [os.path.basename(p) for p in snapshots.list_network_pkls(second)]
    assert names == ["network-snapshot-000000.pkl", "network-snapshot-000004.pkl",
                     "network-snapshot-000008.pkl", "network-snapshot-000012.pkl",
                     "network-final.pkl"]
    assert pretrained.resolve_network(second, result_dir=results).name == "network-final.pkl"
    assert [path.name for path in pretrained.resolve_network_pkls("1", result_dir=results)] == names
    with pytest.raises(ValueError, match="Cannot find a run directory .* looked up in"):
        pretrained.resolve_network("7", result_dir=results)
    arrays, meta = snapshots.load_state(snapshots.state_path(
        os.path.join(second, "network-snapshot-000008.pkl")))
    assert meta == {"cur_nimg": 8} and np.array_equal(arrays["a"], np.arange(3))
    removed = snapshots.prune_snapshots(second, 2)
    assert [os.path.basename(p) for p in removed] == ["network-snapshot-000000.pkl",
                                                      "network-snapshot-000004.pkl"]
    assert sorted(os.listdir(second)) == [
        "network-final.pkl", "network-snapshot-000008-state.npz", "network-snapshot-000008.pkl",
        "network-snapshot-000012-state.npz", "network-snapshot-000012.pkl"]
    assert snapshots.kimg_from_name("x/network-snapshot-000123.pkl") == 123
    assert snapshots.kimg_from_name("karras2019stylegan-ffhq-1024x1024.pkl") is None


def test_xla_auto_is_off_on_a_cpu_and_choices_are_checked():
    from stylegan_tf import xla
    assert not tf_gpus()  # the test machines have none
    assert xla.use_xla("auto") is False and xla.describe("auto") == "tf.function (xla=auto: no GPU)"
    assert xla.use_xla(True) and xla.use_xla("on") and not xla.use_xla("off") and not xla.use_xla(False)
    assert xla.describe("on") == "XLA"
    with pytest.raises(ValueError, match="xla must be one of auto, on, off"):
        xla.use_xla("maybe")
    config = config_lib.resolve_config("ffhq-1gpu")
    assert config.xla == "auto"
    with pytest.raises(ValueError, match="xla must be auto, on or off"):
        config_lib.resolve_config("ffhq-1gpu", ["xla=maybe"])
    config = config_lib.resolve_config("ffhq-1gpu", ["xla=true"])
    assert config.xla == "true"  # validate() checks, it changes nothing
    assert config_lib.to_dict(config)["xla"] is True  # config.json's form
    assert xla.use_xla(config.xla)


def tf_gpus():
    import tensorflow as tf
    return tf.config.list_logical_devices("GPU")


@pytest.mark.parametrize("key,value", [("fmap_base", 131072), ("resolution", 16384), ("fmap_max", 8192),
                                       ("mbstd_group_size", -1)])
def test_network_sizes_the_loader_refuses_are_refused_when_configured(tmp_path, key, value):
    """One set of limits (stylegan_tf.network_limits): a run never writes a snapshot the loader
    refuses, and says so before its run directory exists."""
    from stylegan_tf import legacy, network_limits
    with pytest.raises(ValueError, match=f"G_args {key}={value} is outside"):
        config_lib.resolve_config("demo", [f"G_args.{key}={value}"])
    with pytest.raises(ValueError, match=f"D_args {key}={value} is outside"):
        config_lib.resolve_config("demo-sg2", [f"D_args.{key}={value}"])
    bound = network_limits.MAX_SIZES[key]
    config_lib.resolve_config("demo", [f"G_args.{key}={bound}"])  # the largest the loader takes
    states = list(legacy.read_pickle(FIXTURE_PKL))
    states[0].state["static_kwargs"][key] = value
    path = tmp_path / "large.pkl"
    with open(path, "wb") as file:
        legacy._OriginalFormatPickler(file, protocol=4).dump(tuple(states))
    with pytest.raises(legacy.LegacyPickleError, match=f"static_kwargs {key}={value} is outside"):
        legacy.load_networks(path)


def test_network_arguments_of_other_types_are_refused_when_configured():
    with pytest.raises(ValueError, match="G_args resample_kernel is a set"):
        config_lib.resolve_config("demo-sg2", ["G_args.resample_kernel={1, 2}"])
    config = config_lib.resolve_config("demo-sg2", ["G_args.resample_kernel=[1, 1]"])
    assert config.G_args["resample_kernel"] == [1, 1]
