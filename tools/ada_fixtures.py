"""Writes parity fixtures of StyleGAN2-ADA's TF release (NVlabs/stylegan2-ada), run under TensorFlow
2.x's compat.v1 on a CPU. Nothing of the release is copied: it is imported at run time from an
extracted copy (`--orig DIR`: `git --git-dir=<mirror> archive HEAD | tar -x -C DIR`).

    python tools/ada_fixtures.py augment --orig DIR --out tests/fixtures/original-ada/augment

`augment`: the release's `augment_pipeline` on fixed images with `debug_percentile` (every random
parameter at that percentile of its distribution) at p = 1: each op alone and each preset, RGB and
grayscale; the warp's transforms as the release passes them to the image transform; the noise images
it draws (recorded, so that ours can be fed the same); and the gradient of a weighted sum of the
augmented images w.r.t. the input (the release's approximate warp gradient, for the record).

It runs the release with the shims of `../shared/tools/original-speed/orig_env.py` (compat.v1 as
`tensorflow`, stubbed contrib) plus two: `tf.contrib.image.transform` ->
`tf.raw_ops.ImageProjectiveTransformV3` (bilinear, constant fill 0, as contrib's) and the custom ops'
CUDA paths -> their reference paths (`SPEC-ADA.md` section 1.6-1.7).
"""

import argparse
import hashlib
import json
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast", "lumaflip",
       "hue", "saturation", "imgfilter", "noise", "cutout")
PRESETS = ("blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf", "bgcfn", "bgcfnc")
PERCENTILES = (0.3, 0.8)
SOURCE_FILES = ("training/augment.py", "train.py", "training/networks.py", "training/loss.py",
                "dnnlib/tflib/network.py")


def _shared_tools(shared):
    path = os.path.join(shared, "tools", "original-speed")
    if not os.path.exists(os.path.join(path, "orig_env.py")):
        raise SystemExit(f"{path} has no orig_env.py (pass --shared)")
    sys.path.insert(0, path)


def setup_release(orig_dir, shared):
    """Imports the release under the compat.v1 shims; returns (tf, augment module, train module)."""
    _shared_tools(shared)
    import orig_env
    orig_env.setup(orig_dir)
    tf = orig_env.tf()
    real_tf = tf._orig_env_real_tf
    captured = {"transforms": []}

    def transform(images, transforms, output_shape=None, interpolation="BILINEAR"):
        captured["transforms"].append(transforms)
        return real_tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=output_shape,
            fill_value=0.0, interpolation=interpolation, fill_mode="CONSTANT")

    tf.contrib.image = types.SimpleNamespace(transform=transform)
    from dnnlib.tflib import custom_ops
    from dnnlib.tflib.ops import fused_bias_act, upfirdn_2d

    def no_plugin(*args, **kwargs):
        raise RuntimeError("a CUDA plugin was requested; the ops should take their reference paths")
    custom_ops.get_plugin = fused_bias_act._get_plugin = upfirdn_2d._get_plugin = no_plugin
    fused_bias_act._fused_bias_act_cuda = fused_bias_act._fused_bias_act_ref
    upfirdn_2d._upfirdn_2d_cuda = upfirdn_2d._upfirdn_2d_ref
    from training import augment
    return tf, augment, captured


def source_hashes(orig_dir):
    return {name: hashlib.sha256(open(os.path.join(orig_dir, name), "rb").read()).hexdigest()
            for name in SOURCE_FILES}


def augment_cases():
    """(case name, channels, pipeline kwargs, percentile)."""
    for channels in (3, 1):
        for pct in PERCENTILES:
            for op in OPS:
                yield f"op-{op}-c{channels}-pct{pct}", channels, {op: 1}, pct
            for preset in PRESETS:
                yield f"preset-{preset}-c{channels}-pct{pct}", channels, {"preset": preset}, pct


def preset_ops(train_source, preset):
    """The release's --augpipe table, read from its train.py by evaluating that dict literal only."""
    import ast
    tree = ast.parse(train_source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "augpipe_specs":
            specs = {key.value: {keyword.arg: keyword.value.value for keyword in value.keywords}
                     for key, value in zip(node.value.keys, node.value.values)}  # name: dict(op=1, ...)
            return specs[preset]
    raise SystemExit("augpipe_specs not found in the release's train.py")


class _WithRandomNormal:
    """The release's `tf` with `random_normal` replaced (the rest delegated)."""

    def __init__(self, tf, random_normal):
        self._tf = tf
        self.random_normal = random_normal

    def __getattr__(self, name):
        return getattr(self._tf, name)


def write_augment(orig_dir, shared, out):
    tf, augment, captured = setup_release(orig_dir, shared)
    train_source = open(os.path.join(orig_dir, "train.py"), encoding="utf-8-sig").read()
    rng = np.random.RandomState(2020)
    batch, size = 2, 24  # small: the arrays are committed
    arrays, cases = {}, []
    for channels in (3, 1):
        # Blocky images with some detail: random 6x6 images upsampled 4x, plus noise.
        coarse = rng.uniform(-1, 1, [batch, channels, size // 4, size // 4])
        images = np.kron(coarse, np.ones([1, 1, 4, 4])) * 0.8 + rng.uniform(-0.2, 0.2, [batch, channels, size, size])
        arrays[f"images_c{channels}"] = images.astype(np.float32)
        arrays[f"grad_weights_c{channels}"] = rng.normal(size=[batch, channels, size, size]).astype(np.float32)
        arrays[f"noise_c{channels}"] = rng.normal(size=[batch, channels, size, size]).astype(np.float32)

    real_random_normal = tf.random_normal

    for name, channels, spec, pct in augment_cases():
        kwargs = preset_ops(train_source, spec["preset"]) if "preset" in spec else dict(spec)
        noise = arrays[f"noise_c{channels}"]

        def random_normal(shape, *args, **kw):  # the noise image: recorded values (ours is fed the same)
            if len(shape) == 4:
                return tf.constant(noise)
            return real_random_normal(shape, *args, **kw)

        graph = tf.Graph()
        with graph.as_default(), tf.Session(graph=graph) as session:
            augment.tf = _WithRandomNormal(tf, random_normal)
            captured["transforms"].clear()
            images = tf.constant(arrays[f"images_c{channels}"])
            output, _ = augment.augment_pipeline(images, None, strength=1, debug_percentile=pct, **kwargs)
            weights = tf.constant(arrays[f"grad_weights_c{channels}"])
            grad = tf.gradients(tf.reduce_sum(output * weights), [images])[0]
            fetch = {"output": output}
            if channels == 3 and pct == PERCENTILES[0]:
                fetch["grad"] = grad
            if captured["transforms"]:
                fetch["transforms"] = captured["transforms"][0]
            values = session.run(fetch)
        for key, value in values.items():
            arrays[f"{name}/{key}"] = np.asarray(value, np.float32)
        cases.append(dict(name=name, channels=channels, percentile=pct, ops=kwargs,
                          has_transforms="transforms" in values, has_grad="grad" in values))
        print(name, np.abs(values["output"] - arrays[f"images_c{channels}"]).max())
    import tensorflow
    os.makedirs(out, exist_ok=True)
    np.savez_compressed(os.path.join(out, "expected.npz"), **arrays)
    meta = dict(kind="ada-augment", layout="NCHW", batch=batch, size=size, cases=cases,
                original=dict(repo="github.com/NVlabs/stylegan2-ada", source_sha256=source_hashes(orig_dir)),
                runtime=dict(tensorflow=tensorflow._orig_env_real_tf.__version__, numpy=np.__version__,
                             shims=["tf.contrib.image.transform := raw_ops.ImageProjectiveTransformV3",
                                    "custom ops *_cuda := *_ref",
                                    "augment's tf.random_normal for the 4-D noise image := recorded noise_c*"]))
    with open(os.path.join(out, "meta.json"), "w") as file:
        json.dump(meta, file, indent=1)
    print(f"wrote {len(cases)} cases to {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["augment"])
    parser.add_argument("--orig", required=True, help="extracted NVlabs/stylegan2-ada")
    parser.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"), help="the shared folder")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.what == "augment":
        write_augment(os.path.abspath(args.orig), os.path.abspath(args.shared), args.out)


if __name__ == "__main__":
    main()
