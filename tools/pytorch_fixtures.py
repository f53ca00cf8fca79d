"""Writes parity fixtures of stylegan2-ada-pytorch and StyleGAN3 (NVlabs/stylegan2-ada-pytorch,
NVlabs/stylegan3): small networks built and pickled by the releases' own code, with their outputs and
gradients.

Run it with a Python that has torch (a separate environment; torch is never a dependency of the
project), the release extracted at `--orig` (`git --git-dir=<mirror> archive HEAD | tar -x -C DIR`)
and imported from there at run time; nothing of the release is copied:

    python tools/pytorch_fixtures.py --orig DIR --out tests/fixtures/original-ada-pytorch
    python tools/pytorch_fixtures.py --release stylegan3 --orig DIR3 --out tests/fixtures/original-stylegan3-pytorch

Each case (`CASES`) writes `network.pkl`, as the release's training loop does (a dict of `G`, `D`,
`G_ema` deep-copied, in eval mode, without gradients, on the CPU, plus `augment_pipe` and
`training_set_kwargs`) with its own `pickle.dump`; `expected.npz` (NCHW, PyTorch's names and layouts);
`meta.json` (family "ada-pytorch"). The persistent classes' module source is replaced by a placeholder
(the fixture must not carry the release's code) that records the real source's SHA-256; the tests
accept that placeholder explicitly.
"""

import argparse
import copy
import hashlib
import json
import os
import pickle
import sys

import numpy as np

N_LATENTS, N_IMG, N_G, D_BATCH = 8, 4, 4, 8
CASES = {
    "adapt-auto-rgb32": dict(
        description="auto's shape: 2-layer mapping, skip G, resnet D, fp16 on the top 2 resolutions, conv_clamp "
                    "1.5 (so that clamping fires), mbstd groups of 4, an augment pipe (bgc)",
        G=dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
               mapping_kwargs=dict(num_layers=2),
               synthesis_kwargs=dict(channel_base=1024, channel_max=32, num_fp16_res=2, conv_clamp=1.5,
                                     architecture="skip")),
        D=dict(c_dim=0, img_resolution=32, img_channels=3, architecture="resnet", channel_base=1024, channel_max=32,
               num_fp16_res=2, conv_clamp=1.5, block_kwargs={}, mapping_kwargs={},
               epilogue_kwargs=dict(mbstd_group_size=4)),
        augment="bgc"),
    "adapt-cond-gray32": dict(
        description="conditional grayscale: resnet G without noise and a 16-wide label embedding, orig D with "
                    "the native 8-layer label mapping (lr 0.01), Freeze-D of 2 layers, mbstd 2 groups x 2 channels",
        G=dict(z_dim=24, c_dim=3, w_dim=32, img_resolution=32, img_channels=1,
               mapping_kwargs=dict(num_layers=3, embed_features=16, layer_features=24),
               synthesis_kwargs=dict(channel_base=1024, channel_max=32, architecture="resnet", use_noise=False)),
        D=dict(c_dim=3, img_resolution=32, img_channels=1, architecture="orig", channel_base=1024, channel_max=32,
               block_kwargs=dict(freeze_layers=2), mapping_kwargs={},
               epilogue_kwargs=dict(mbstd_group_size=2, mbstd_num_channels=2))),
    "adapt-nhwc-orig-rgb32": dict(
        description="--nhwc: fp16 layers (all 4 resolutions >= 8) with channels-last weights, conv_clamp 256, "
                    "2 labels, orig G, skip D with cmap_dim 16 and mbstd over the whole minibatch",
        G=dict(z_dim=32, c_dim=2, w_dim=32, img_resolution=32, img_channels=3,
               mapping_kwargs=dict(num_layers=2),
               synthesis_kwargs=dict(channel_base=1024, channel_max=32, num_fp16_res=4, conv_clamp=256,
                                     architecture="orig", fp16_channels_last=True)),
        D=dict(c_dim=2, img_resolution=32, img_channels=3, architecture="skip", channel_base=1024, channel_max=32,
               num_fp16_res=4, conv_clamp=256, cmap_dim=16, block_kwargs=dict(fp16_channels_last=True),
               mapping_kwargs=dict(num_layers=2), epilogue_kwargs=dict(mbstd_group_size=None))),
}
SG3_CASES = {
    "sg3-t-rgb64": dict(
        description="StyleGAN3-T at 64x64 (14 layers, 2 critical, margin 10, Kaiser filters), small widths, with a "
                    "user transform; SG3's StyleGAN2 D (orig)",
        G_module="networks_stylegan3",
        G=dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=64, img_channels=3, mapping_kwargs=dict(num_layers=2),
               channel_base=512, channel_max=32, magnitude_ema_beta=0.999),
        D=dict(c_dim=0, img_resolution=64, img_channels=3, architecture="orig", channel_base=512, channel_max=32,
               block_kwargs={}, mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))),
    "sg3-r-cond-rgb64": dict(
        description="StyleGAN3-R at 64x64 (1x1 convolutions, radially symmetric down filters, doubled widths), "
                    "conditional (4 labels); SG3's StyleGAN2 D (resnet, its defaults: fp16 on 4 resolutions, "
                    "conv_clamp 256)",
        G_module="networks_stylegan3",
        G=dict(z_dim=32, c_dim=4, w_dim=32, img_resolution=64, img_channels=3, mapping_kwargs=dict(num_layers=2),
               channel_base=1024, channel_max=64, conv_kernel=1, use_radial_filters=True),
        D=dict(c_dim=4, img_resolution=64, img_channels=3, channel_base=512, channel_max=32,
               block_kwargs={}, mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))),
    "sg3-stylegan2-rgb32": dict(
        description="StyleGAN3's re-release of the StyleGAN2 networks (its NGC stylegan2-* files): synthesis "
                    "kwargs flattened into the Generator's, fused_modconv_default 'inference_only', its defaults "
                    "(w_avg_beta 0.998, fp16 on 4 resolutions, conv_clamp 256)",
        G_module="networks_stylegan2",
        G=dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
               channel_base=1024, channel_max=32, fused_modconv_default="inference_only"),
        D=dict(c_dim=0, img_resolution=32, img_channels=3, channel_base=1024, channel_max=32,
               block_kwargs={}, mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))),
}
AUGMENT_PRESETS = {"bgc": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1,
                               contrast=1, lumaflip=1, hue=1, saturation=1)}
PLACEHOLDER = "# module source omitted from this fixture; the release's {path} has SHA-256 {sha}\n"


def import_release(orig, release):
    """(torch, persistence, {module name: module}, augment) of the release extracted at `orig`."""
    sys.path.insert(0, os.path.abspath(orig))
    import importlib

    import torch
    from torch_utils import persistence
    from training import augment
    names = ("networks",) if release == "stylegan2-ada-pytorch" else ("networks_stylegan2", "networks_stylegan3")
    return torch, persistence, {name: importlib.import_module(f"training.{name}") for name in names}, augment


def perturb(torch, module, seed):
    """Random values in every parameter and buffer but the fixed filters (biases, noise strengths and
    the affine biases are 0 or 1 at initialization, so a layout mistake there would go unseen)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith(("resample_filter", "up_filter", "down_filter")) or name.endswith(".p") or name == "p":
                continue  # designed from the kwargs: the loader rebuilds them
            if name.endswith("magnitude_ema"):  # a positive running mean of squares
                tensor.copy_(torch.rand([], generator=gen) * 1.5 + 0.25)
                continue
            if name.endswith("input.transform"):  # a user transform: rotation by 0.3 rad and a shift
                angle = 0.3
                tensor.copy_(torch.tensor([[np.cos(angle), -np.sin(angle), 0.1], [np.sin(angle), np.cos(angle), -0.05],
                                           [0, 0, 1]], dtype=torch.float32))
                continue
            noise = torch.randn(tensor.shape, generator=gen) * (0.3 if tensor.ndim <= 1 else 0.05)
            tensor.copy_(tensor + noise.to(memory_format=torch.preserve_format))


def easydicts(kwargs):
    """The release's train.py passes the nested kwargs as dnnlib.EasyDict: so do we (the pickle holds them)."""
    import dnnlib
    return {key: dnnlib.EasyDict(easydicts(value)) if isinstance(value, dict) else value
            for key, value in kwargs.items()}


def run_case(torch, modules, augment, name, case, seed, placeholder_of):
    torch.manual_seed(seed)
    g_module = modules[case.get("G_module", "networks")]
    d_module = modules.get("networks_stylegan2", modules.get("networks"))
    G = g_module.Generator(**easydicts(case["G"])).eval()
    D = d_module.Discriminator(**easydicts(case["D"])).eval()
    perturb(torch, G, seed + 1)
    perturb(torch, D, seed + 2)
    G_ema = copy.deepcopy(G).eval()
    perturb(torch, G_ema, seed + 3)
    pipe = None
    if case.get("augment"):
        pipe = augment.AugmentPipe(**AUGMENT_PRESETS[case["augment"]]).train().requires_grad_(False)
        pipe.p.copy_(torch.as_tensor(0.25))
    rng = np.random.RandomState(seed)
    c_dim = case["G"]["c_dim"]
    z = rng.randn(N_LATENTS, case["G"]["z_dim"]).astype(np.float32)
    c = np.eye(max(c_dim, 1), dtype=np.float32)[rng.randint(0, max(c_dim, 1), N_LATENTS)][:, :c_dim]
    res, ch = case["G"]["img_resolution"], case["G"]["img_channels"]
    d_images = rng.randn(D_BATCH, ch, res, res).astype(np.float32)
    R = rng.randn(N_G, ch, res, res).astype(np.float32)
    ws_in = (rng.randn(N_IMG, G.num_ws, G.w_dim) * 0.7).astype(np.float32)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    arrays = {"latents": z, "labels": c, "D_images_in": d_images, "R": R, "synthesis_dlatents_in": ws_in,
              "G_ema_w_avg": G_ema.mapping.w_avg.numpy().copy()}
    truncation_cases = []
    with torch.no_grad():
        arrays["G_ema_mapping_ws"] = G_ema.mapping(t(z), t(c)).numpy()
        for psi, cutoff in ((1.0, None), (0.5, None), (0.7, 2)):
            key = f"G_ema_images_psi{psi:g}_cutoff{cutoff}"
            arrays[key] = G_ema(t(z[:N_IMG]), t(c[:N_IMG]), truncation_psi=psi, truncation_cutoff=cutoff,
                                noise_mode="const", force_fp32=True).numpy()
            arrays[key.replace("images", "ws")] = G_ema.mapping(t(z[:N_IMG]), t(c[:N_IMG]), truncation_psi=psi,
                                                               truncation_cutoff=cutoff).numpy()
            truncation_cases.append(dict(images_key=key, ws_key=key.replace("images", "ws"),
                                         kwargs=dict(truncation_psi=psi, truncation_cutoff=cutoff)))
        for mode in ("const", "none"):
            arrays[f"G_ema_synthesis_{mode}"] = G_ema.synthesis(t(ws_in), noise_mode=mode, force_fp32=True).numpy()
        arrays["G_images"] = G(t(z[:N_G]), t(c[:N_G]), noise_mode="const", force_fp32=True).numpy()
        for batch in (D_BATCH, N_IMG):
            arrays[f"D_scores_b{batch}"] = D(t(d_images[:batch]), t(c[:batch]), force_fp32=True).numpy()
        # (StyleGAN3's releases compute in float32 off CUDA whatever use_fp16 says.)
        uses_fp16 = "G_module" not in case and any(getattr(b, "use_fp16", False) for b in G.synthesis.children())
        if uses_fp16:  # the release's own fp16 outputs (CPU half precision), for the record
            arrays["G_ema_synthesis_const_fp16"] = G_ema.synthesis(t(ws_in), noise_mode="const").float().numpy()
            arrays[f"D_scores_b{D_BATCH}_fp16"] = D(t(d_images), t(c)).float().numpy()
    # Gradients of sum(G(z) * R) and sum(D(images)) w.r.t. every trainable parameter and the input.
    for kind, net in (("G", G), ("D", D)):
        net = copy.deepcopy(net).requires_grad_(True)
        for bname, buf in net.named_buffers():  # Freeze-D's frozen layers stay buffers, as in training
            buf.requires_grad_(False)
        if kind == "G":
            inputs = t(z[:N_G]).requires_grad_(True)
            loss = (net(inputs, t(c[:N_G]), noise_mode="const", force_fp32=True) * t(R)).sum()
        else:
            inputs = t(d_images).requires_grad_(True)
            loss = net(inputs, t(c), force_fp32=True).sum()
        params = [(pname, p) for pname, p in net.named_parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, [p for _, p in params] + [inputs])
        for (pname, _), grad in zip(params, grads[:-1]):
            arrays[f"{kind}_grads/{pname}"] = grad.numpy()
        arrays[f"{kind}_grads/input"] = grads[-1].numpy()
    data = dict(G=G, D=D, G_ema=G_ema, augment_pipe=pipe,
                training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="faces.zip",
                                         use_labels=c_dim > 0, max_size=243, xflip=False, resolution=res))
    snapshot = {key: (copy.deepcopy(value).eval().requires_grad_(False).cpu()
                      if isinstance(value, torch.nn.Module) else copy.deepcopy(value))
                for key, value in data.items()}
    meta = dict(family="ada-pytorch" if "G_module" not in case else "stylegan3-pytorch", preset=name,
                G_module=case.get("G_module", "networks"), config=case["description"], seed=seed,
                n_latents=N_LATENTS, n_img=N_IMG, n_g=N_G, d_batch=D_BATCH,
                G_init_kwargs=case["G"], D_init_kwargs=case["D"], augment=case.get("augment"),
                augment_p=0.25 if pipe is not None else None,
                truncation_cases=truncation_cases, fp16_outputs=bool(uses_fp16),
                placeholder_sha256=placeholder_of,
                arrays={key: dict(shape=list(value.shape)) for key, value in arrays.items()})
    return snapshot, arrays, meta


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", choices=["stylegan2-ada-pytorch", "stylegan3"], default="stylegan2-ada-pytorch")
    parser.add_argument("--orig", required=True, help="the extracted release (stylegan2-ada-pytorch or stylegan3)")
    parser.add_argument("--out", required=True, help="the parent folder of the fixtures")
    parser.add_argument("--only", nargs="*", help="the fixtures to write (default: all)")
    args = parser.parse_args()
    torch, persistence, modules, augment = import_release(args.orig, args.release)
    sources, placeholders = {}, {}
    for module, path in [(module, f"training/{name}.py") for name, module in modules.items()] + [
            (augment, "training/augment.py")]:
        source = persistence._module_to_src(module)
        sources[path] = hashlib.sha256(source.encode("utf-8")).hexdigest()
        placeholder = PLACEHOLDER.format(path=path, sha=sources[path])
        placeholders[source] = placeholder
    cases = CASES if args.release == "stylegan2-ada-pytorch" else SG3_CASES
    for index, (name, case) in enumerate(cases.items()):
        if args.only and name not in args.only:
            continue
        placeholder_sha = {hashlib.sha256(text.encode("utf-8")).hexdigest(): path
                           for text, path in zip(placeholders.values(), sources)}
        snapshot, arrays, meta = run_case(torch, modules, augment, name, case, 7001 + 100 * index, placeholder_sha)
        meta["original"] = dict(repo=f"github.com/NVlabs/{args.release}", source_sha256=sources)
        meta["runtime"] = dict(torch=torch.__version__, numpy=np.__version__, python=sys.version.split()[0],
                               pickle_protocol=pickle.DEFAULT_PROTOCOL)
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        # Only while dumping: every persistent class pickles the placeholder instead of its module's source.
        swapped = [d for d in persistence._decorators if d._orig_module_src in placeholders]
        for decorator in swapped:
            decorator._orig_module_src = placeholders[decorator._orig_module_src]
        try:
            with open(os.path.join(out, "network.pkl"), "wb") as file:
                pickle.dump(snapshot, file)
        finally:
            originals = {v: k for k, v in placeholders.items()}
            for decorator in swapped:
                decorator._orig_module_src = originals[decorator._orig_module_src]
        np.savez_compressed(os.path.join(out, "expected.npz"), **arrays)
        with open(os.path.join(out, "meta.json"), "w") as file:
            json.dump(meta, file, indent=1)
        print(f"{name}: {len(arrays)} arrays, {os.path.getsize(os.path.join(out, 'network.pkl'))} bytes pickled")

if __name__ == "__main__":
    main()
