"""Minimal example: load a pretrained generator and make one image (the original's
pretrained_example.py in this project's API).

    python pretrained_example.py                       # FFHQ 1024x1024, downloaded once
    python pretrained_example.py --network=my-snapshot.pkl

Writes results/example.png.
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from stylegan_tf import cli, generation, images, legacy, pretrained  # noqa: E402

FLAGS = flags.FLAGS
cli.define_network_flag(flags, "ffhq-1024")
cli.define_outdir_flag(flags, "results")
cli.define_xla_flag(flags, "the synthesis")
cli.define_runtime_flags(flags)
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too


def print_variables(net):
    """The network's variables under their original names, with shapes and parameter counts."""
    rows = [(name, tuple(variable.shape), int(np.prod(variable.shape)))
            for name, variable in legacy.original_variables(net).items()]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'Variable':<{width}}  {'Params':>10}  Shape")
    for name, shape, count in rows:
        print(f"{name:<{width}}  {count:>10,}  {list(shape)}")
    trainable = sum(int(np.prod(variable.shape)) for variable in net.trainable_variables)
    print(f"{'Total trainable':<{width}}  {trainable:>10,}")


@cli.user_errors_as_messages
def main():
    generation.use_reproducible_arithmetic()
    # G: instantaneous generator and D: discriminator, for resuming training;
    # Gs: the long-term average of G, which gives the best images.
    _G, _D, Gs = pretrained.load_networks(FLAGS.network, runtime=cli.runtime_from_flags(FLAGS),
                                            trusted_sources=cli.trusted_sources_from_flags(FLAGS))
    print_variables(Gs)

    # One latent vector from seed 5; truncation psi 0.7 on the first 8 layers; noise drawn
    # from the same seed (the original drew it at random, so its image changed every run).
    rng = np.random.RandomState(5)
    latents = rng.randn(1, Gs.latent_size)
    gen = generation.ImageGenerator(Gs, xla=FLAGS.xla)
    dlatents = gen.dlatents(latents, truncation_psi=0.7, truncation_cutoff=8)
    image = gen.synthesize(dlatents, lambda _: generation.draw_noise(Gs.synthesis, rng))[0]

    path = images.save_png(pathlib.Path(FLAGS.outdir) / "example.png", image)
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
