"""Writes parity fixtures of StyleGAN2-ADA's TF release (NVlabs/stylegan2-ada), run under TensorFlow
2.x's compat.v1 on a CPU. Nothing of the release is copied: it is imported at run time from an
extracted copy (`--orig DIR`: `git --git-dir=<mirror> archive HEAD | tar -x -C DIR`).

    python tools/ada_fixtures.py augment --orig DIR --out tests/fixtures/original-ada/augment
    python tools/ada_fixtures.py networks --orig DIR --out tests/fixtures/original-ada/networks

`augment`: the release's `augment_pipeline` on fixed images with `debug_percentile` (every random
parameter at that percentile of its distribution) at p = 1: each op alone and each preset, RGB and
grayscale; the warp's transforms as the release passes them to the image transform; the noise images
it draws (recorded, so that ours can be fed the same); and the gradient of a weighted sum of the
augmented images w.r.t. the input (the release's approximate warp gradient, for the record).

`networks`: small G_main / D_main networks (`NETWORK_CASES`) with seeded variables, pickled by the
release's own `Network.__getstate__` (state version 5; its module source replaced by a placeholder),
with their outputs, D scores and gradients in the StyleGAN2 fixtures' format (`meta.json` family
"ada"), so that the network parity tests read them like the other releases' fixtures.

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


# Small networks of the release's G_main / D_main: (name, G kwargs, D kwargs, description). Fixture C
# holds fp16 layers: its outputs are recorded from clones with num_fp16_res=0 (float32, which is what
# stylegan-tf computes by default) and, with the suffix _fp16, from the fp16 networks themselves.
NETWORK_CASES = (
    ("ada-auto-rgb32", dict(num_channels=3, resolution=32, label_size=0, fmap_base=512, fmap_max=32, latent_size=32,
                            dlatent_size=32, mapping_layers=2, conv_clamp=1.5),
     dict(num_channels=3, resolution=32, label_size=0, fmap_base=512, fmap_max=32, conv_clamp=1.5),
     "the auto config's shape: 2 mapping layers, skip G, resnet D, mbstd over the whole minibatch; conv_clamp 1.5 "
     "so that clamping is exercised"),
    ("ada-cond-gray32", dict(num_channels=1, resolution=32, label_size=3, fmap_base=512, fmap_max=32, latent_size=24,
                             dlatent_size=32, mapping_layers=3, mapping_fmaps=24, label_fmaps=8, architecture="resnet",
                             use_noise=False, fmap_const=16),
     dict(num_channels=1, resolution=32, label_size=3, fmap_base=512, fmap_max=32, architecture="orig",
          mapping_layers=2, mbstd_group_size=2, mbstd_num_features=2, freeze_layers=2),
     "conditional grayscale: label embeddings in G and D, D's label mapping and projection output, resnet G "
     "without noise and with a 16-channel constant, orig D, Freeze-D of 2 layers"),
    ("ada-fp16-rgb32", dict(num_channels=3, resolution=32, label_size=2, fmap_base=512, fmap_max=32, latent_size=32,
                            dlatent_size=32, mapping_layers=2, num_fp16_res=2, conv_clamp=256, architecture="orig"),
     dict(num_channels=3, resolution=32, label_size=2, fmap_base=512, fmap_max=32, architecture="skip",
          mbstd_group_size=4, num_fp16_res=2, conv_clamp=256),
     "the release's mixed precision (num_fp16_res 2, conv_clamp 256), conditional, orig G, skip D"),
)
PLACEHOLDER = "# source omitted from fixture\n"


def _perturbed(name, shape, rng):
    """Seeded values replacing every variable (so that G != Gs and biases matter)."""
    if name.endswith("dlatent_avg"):
        return rng.normal(0.1, 0.5, shape)
    if name.endswith(("mod_bias", "/bias")):
        return rng.normal(0, 0.2, shape)
    if name.endswith("noise_strength"):
        return rng.normal(0, 0.5, shape)
    return rng.normal(0, 1, shape)


def write_networks(orig_dir, shared, out_root, only=None):
    tf, _, _ = setup_release(orig_dir, shared)
    import pickle

    import dnnlib.tflib as tflib
    from dnnlib.tflib import network as network_module
    real_getstate = network_module.Network.__getstate__

    def getstate(net):  # the release's state, without committing its source
        return dict(real_getstate(net), build_module_src=PLACEHOLDER)

    network_module.Network.__getstate__ = getstate
    for seed, (name, g_kwargs, d_kwargs, description) in enumerate(NETWORK_CASES, start=5000):
        if only and name not in only:
            continue
        tf.reset_default_graph()
        session = tf.Session(graph=tf.get_default_graph())
        with session.as_default(), session.graph.as_default():
            arrays, meta = _record_networks(tf, tflib, g_kwargs, d_kwargs, seed)
            out = os.path.join(out_root, name)
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "network.pkl"), "wb") as file:
                pickle.dump(meta.pop("networks"), file, protocol=4)
        import tensorflow
        meta.update(preset=name, family="ada", config=description, seed=seed, placeholder=PLACEHOLDER,
                    original=dict(repo="github.com/NVlabs/stylegan2-ada", source_sha256=source_hashes(orig_dir),
                                  G_func="training.networks.G_main", D_func="training.networks.D_main"),
                    runtime=dict(tensorflow=tensorflow._orig_env_real_tf.__version__, numpy=np.__version__,
                                 shims=["custom ops *_cuda := *_ref", "orig_env.py shims (compat.v1, stubs)"]),
                    arrays={key: {"shape": list(value.shape)} for key, value in arrays.items()})
        np.savez_compressed(os.path.join(out, "expected.npz"), **arrays)
        with open(os.path.join(out, "meta.json"), "w") as file:
            json.dump(meta, file, indent=1)
        print(f"wrote {out}: {len(arrays)} arrays")


def _record_networks(tf, tflib, g_kwargs, d_kwargs, seed):
    rng = np.random.RandomState(seed)
    G = tflib.Network("G", func_name="training.networks.G_main", **g_kwargs)
    D = tflib.Network("D", func_name="training.networks.D_main", **d_kwargs)
    for net in (G, D):
        tflib.set_vars({var: _perturbed(name, var.shape.as_list(), rng).astype(np.float32)
                        for name, var in net.vars.items()})
    Gs = G.clone("Gs")
    tflib.set_vars({var: _perturbed(name, var.shape.as_list(), rng).astype(np.float32)
                    for name, var in Gs.vars.items()})
    fp16 = g_kwargs.get("num_fp16_res", 0) > 0
    # Outputs in float32: clones without fp16 layers (the pickle keeps the fp16 networks).
    G32, D32, Gs32 = (net.clone(net.name + "_fp32", num_fp16_res=0) if fp16 else net for net in (G, D, Gs))
    channels, resolution, labels_size = g_kwargs["num_channels"], g_kwargs["resolution"], g_kwargs["label_size"]
    num_layers, latent_size = Gs.components.synthesis.input_shape[1], Gs.input_shape[1]
    dlatent_size = Gs.components.synthesis.input_shape[2]
    n, n_img = 8, 4
    arrays = {"latents": rng.normal(size=[n, latent_size]),
              "labels": np.eye(labels_size)[rng.randint(0, max(labels_size, 1), n)] if labels_size
              else np.zeros([n, 0]),
              "synthesis_dlatents_in": rng.normal(0.1, 0.7, [n_img, num_layers, dlatent_size]),
              "D_images_in": np.round(rng.uniform(-1, 1, [n, channels, resolution, resolution]) * 127.5) / 127.5,
              "R": rng.randint(-4, 5, [n_img, channels, resolution, resolution]) / 4}
    arrays = {key: value.astype(np.float32) for key, value in arrays.items()}
    latents, labels = tf.constant(arrays["latents"]), tf.constant(arrays["labels"])
    fetch = {}
    for prefix, net in (("G", G32), ("Gs", Gs32)):
        fetch[f"{prefix}_dlatent_avg"] = net.find_var("dlatent_avg")
        for var_name, var in net.vars.items():
            if var_name.startswith("G_synthesis/noise"):
                fetch[f"{prefix}_noise/{var_name.split('/')[-1]}"] = var
        fetch[f"{prefix}_mapping_dlatents"] = net.components.mapping.get_output_for(latents, labels)
    truncation_cases = []
    for key, kwargs, text in (("psi0.5_cutoffNone", {}, "G_main defaults: psi 0.5 on every layer"),
                              ("psi1_cutoffNone", {"truncation_psi": 1.0}, "psi 1: no truncation"),
                              ("psi0.7_cutoff2", {"truncation_psi": 0.7, "truncation_cutoff": 2}, "layers 0-1"),
                              ("validation", {"is_validation": True}, "validation: no truncation")):
        images, dlatents = Gs32.get_output_for(latents[:n_img], labels[:n_img], randomize_noise=False,
                                               return_dlatents=True, **kwargs)
        fetch[f"Gs_images_{key}"], fetch[f"Gs_dlatents_{key}"] = images, dlatents
        truncation_cases.append(dict(images_key=f"Gs_images_{key}", dlatents_key=f"Gs_dlatents_{key}",
                                     kwargs=kwargs, description=text))
    dlatents_in = tf.constant(arrays["synthesis_dlatents_in"])
    fetch["Gs_synthesis_images"] = Gs32.components.synthesis.get_output_for(dlatents_in, randomize_noise=False)
    g_latents = latents[:n_img]  # the G gradient group's input: its rows only
    g_images = G32.get_output_for(g_latents, labels[:n_img], is_training=True, style_mixing_prob=None,
                                  dlatent_avg_beta=None, randomize_noise=False)
    fetch["G_images_lod0.0"] = g_images
    d_images = tf.constant(arrays["D_images_in"])
    for batch in (8, 4):
        fetch[f"D_scores_b{batch}_lod0.0"] = D32.get_output_for(d_images[:batch], labels[:batch])
    if fp16:
        fetch["Gs_synthesis_images_fp16"] = Gs.components.synthesis.get_output_for(dlatents_in,
                                                                                   randomize_noise=False)
        fetch["D_scores_b8_lod0.0_fp16"] = D.get_output_for(d_images, labels)
    disconnected = {}
    for group, net, loss, input_name, inputs in (
            ("G_grads_lod0.0", G32, tf.reduce_sum(g_images * tf.constant(arrays["R"])), "latents_in", g_latents),
            ("D_grads_b8_lod0.0", D32, tf.reduce_sum(fetch["D_scores_b8_lod0.0"]), "images_in", d_images)):
        names = list(net.vars)
        grads = tf.gradients(loss, [net.vars[var_name] for var_name in names] + [inputs])
        disconnected[group] = [var_name for var_name, grad in zip(names, grads) if grad is None]
        for var_name, grad in zip(names + [input_name], grads):
            source = net.vars[var_name] if grad is None else grad
            fetch[f"{group}/{var_name}"] = tf.zeros_like(source) if grad is None else grad
    values = tflib.run(fetch)
    arrays.update({key: np.asarray(value, np.float32) for key, value in values.items()})
    trainables = {net.name: set(net.trainables) for net in (G, D)}
    meta = dict(networks=(G, D, Gs), n_latents=n, n_img=n_img, n_g=n_img, d_batch=n, lods=[0.0], grad_lods=[0.0],
                num_layers=int(num_layers), latent_size=int(latent_size), dlatent_size=int(dlatent_size),
                label_size=labels_size, resolution=resolution, num_channels=channels,
                G_static_kwargs=g_kwargs, D_static_kwargs=d_kwargs, truncation_cases=truncation_cases,
                disconnected_gradients=disconnected, fp16_outputs=fp16,
                **{f"{net.name}_variables": [[var_name, var.shape.as_list(), var_name in trainables[net.name]]
                                             for var_name, var in net.vars.items()] for net in (G, D)})
    return arrays, meta


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["augment", "networks"])
    parser.add_argument("--orig", required=True, help="extracted NVlabs/stylegan2-ada")
    parser.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"), help="the shared folder")
    parser.add_argument("--out", required=True, help="augment: the fixture folder; networks: their parent")
    parser.add_argument("--only", nargs="*", help="networks: the fixtures to write (default: all)")
    args = parser.parse_args()
    if args.what == "augment":
        write_augment(os.path.abspath(args.orig), os.path.abspath(args.shared), args.out)
    else:
        write_networks(os.path.abspath(args.orig), os.path.abspath(args.shared), args.out, args.only)


if __name__ == "__main__":
    main()
