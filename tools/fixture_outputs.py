"""Writes every output the parity fixtures record, as this checkout computes them with the
reference ops, to one .npz: run it in two checkouts and compare the files bit for bit
(`--compare A.npz B.npz`) to show that a change moved no number.

    python tools/fixture_outputs.py --out before.npz        # in the old checkout
    python tools/fixture_outputs.py --out after.npz         # in the new one
    python tools/fixture_outputs.py --compare before.npz after.npz

`--impl=fast` (or xla) computes the forward outputs with networks built with those op forms (the
gradients always use the reference ones).
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

import numpy as np  # noqa: E402


def outputs_of(fixture, impl="ref"):
    """{name: array} of G (every lod, both structures), Gs (each truncation case, synthesis only),
    the mapping and D (every score case), computed with `impl`, and their gradients as the parity
    tests take them."""
    from original_fixtures import compute_gradients, set_lod
    G, D, Gs = fixture.networks
    if impl != "ref":
        G, D, Gs = (net.clone(impl=impl) for net in (G, D, Gs))
    arrays, count = fixture.arrays, fixture.meta["n_g"]
    out = {"mapping": Gs.mapping(arrays["latents"], fixture.labels).numpy(),
           "synthesis": Gs.synthesis(arrays["synthesis_dlatents_in"], randomize_noise=False).numpy()}
    for index, case in enumerate(fixture.meta["truncation_cases"]):
        n = fixture.meta["n_img"]
        out[f"truncation{index}"] = Gs(arrays["latents"][:n], fixture.labels[:n], randomize_noise=False,
                                       **case["kwargs"]).numpy()
    for structure in ("recursive", "linear"):
        for lod in fixture.meta["lods"]:
            set_lod(G, lod)
            out[f"G_{structure}_lod{lod}"] = G(arrays["latents"][:count], fixture.labels[:count], is_training=True,
                                               style_mixing_prob=None, dlatent_avg_beta=None, randomize_noise=False,
                                               structure=structure).numpy()
        set_lod(G, 0.0)
    images = np.transpose(arrays["D_images_in"], [0, 2, 3, 1])
    for key, batch, lod in fixture.d_score_cases():
        set_lod(D, lod)
        out[f"D_{key}"] = D(images[:batch], fixture.labels[:batch]).numpy()
    set_lod(D, 0.0)
    for group in fixture.gradient_groups():
        for name, value in compute_gradients(fixture, group).items():
            out[f"{group}/{name}"] = np.asarray(value)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the outputs here")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two written files")
    parser.add_argument("--impl", default="ref", help="op forms of the forward outputs: ref, fast or xla")
    args = parser.parse_args()
    if args.compare:
        a, b = (np.load(path) for path in args.compare)
        if sorted(a.files) != sorted(b.files):
            print(f"different arrays: {sorted(set(a.files) ^ set(b.files))[:10]}")
            return 1
        differing = [name for name in a.files if not np.array_equal(a[name], b[name], equal_nan=True)]
        print(f"{len(a.files)} arrays, {len(differing)} differ{': ' + ', '.join(differing[:10]) if differing else ''}")
        return 1 if differing else 0
    from original_fixtures import all_fixture_dirs, load_fixture
    everything = {}
    for directory in all_fixture_dirs():
        for name, value in outputs_of(load_fixture(directory), args.impl).items():
            everything[f"{directory.parent.name}/{directory.name}/{name}"] = value
        print(directory.name, flush=True)
    np.savez(args.out, **everything)
    return 0


if __name__ == "__main__":
    sys.exit(main())
