"""Generate images from seeds with a trained StyleGAN generator (Gs).

One PNG per seed (`seed0042.png`), optionally a grid of all of them:

    python generate.py --network=ffhq-1024 --seeds=0-63 --truncation_psi=0.7 --grid
    python generate.py --network=results/00000-demo/network-snapshot-000140.pkl --seeds=1,5,9

--network takes a registered name (ffhq-1024, celebahq-1024, bedrooms-256, cars-512x384,
cats-256), an original or our pickle, or a URL. A seed always gives the same image: --noise=const
uses the noise stored in the network, --noise=random draws noise from the seed.
`--projected_w=out/face/projected_w.npz` renders a projection saved by projector.py.
`--video=walk.mp4 --seeds=0-7 --frames_per_seed=60 [--space=w]` writes a latent walk through the seeds.
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from tqdm import tqdm  # noqa: E402

from stylegan_tf import cli, generation, images, pretrained  # noqa: E402

FLAGS = flags.FLAGS
cli.define_network_flag(flags)
cli.define_generation_flags(flags)
flags.DEFINE_enum("noise", "const", generation.NOISE_MODES,
                  "const: the network's stored noise; random: noise drawn from each seed; none: no noise.")
cli.define_outdir_flag(flags, "results/generate")
flags.DEFINE_bool("grid", False, "Also write grid.png with all images.")
flags.DEFINE_integer("batch_size", 8, "Images per synthesis call (--noise=const).")
flags.DEFINE_string("video", None, "Write a latent walk through --seeds to this MP4 file (H.264) "
                    "instead of images; noise fixed, truncation as for images.")
flags.DEFINE_integer("frames_per_seed", 60, "Video: frames from one seed to the next.")
flags.DEFINE_enum("space", "z", ["z", "w"], "Video: interpolate in Z (slerp of the latents) or W "
                  "(lerp of the truncated dlatents).")
flags.DEFINE_integer("fps", 30, "Video: frames per second.")
cli.define_xla_flag(flags, "the synthesis")
cli.define_runtime_flags(flags)
flags.DEFINE_string("projected_w", None, "Render a projection saved by projector.py "
                    "(projected_w.npz: its dlatents and noise) to <outdir>/projected.png instead of seeds.")
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too


@cli.user_errors_as_messages
def main():
    generation.use_reproducible_arithmetic()
    seeds = cli.parse_seeds(FLAGS.seeds)
    _, _, Gs = pretrained.load_networks(FLAGS.network, runtime=cli.runtime_from_flags(FLAGS),
                                        trusted_sources=cli.trusted_sources_from_flags(FLAGS))
    if FLAGS.projected_w:
        from stylegan_tf import projection
        dlatents, noise = projection.load_projection(FLAGS.projected_w)
        image = projection.render(Gs, dlatents, noise)
        print(images.save_png(pathlib.Path(FLAGS.outdir) / "projected.png", images.to_uint8(image)[0]))
        return 0
    labels = cli.make_labels(Gs.label_size, FLAGS.labels, len(seeds))
    gen = generation.ImageGenerator(Gs, batch_size=FLAGS.batch_size, progress=True, xla=FLAGS.xla)
    psi, cutoff = generation.truncation_defaults(Gs, FLAGS.truncation_psi, FLAGS.truncation_cutoff)
    if FLAGS.video:
        from stylegan_tf import video
        dlatents = video.walk_dlatents(gen, seeds, FLAGS.frames_per_seed, FLAGS.space, psi, cutoff, labels)
        print(video.write_video(FLAGS.video, gen.synthesize(dlatents, desc="frames"), fps=FLAGS.fps))
        return 0
    outdir = pathlib.Path(FLAGS.outdir)
    generated = []
    with tqdm(total=len(seeds), unit="img", desc="generate") as bar:
        for chunk, chunk_images in generation.iterate_images(
                gen, seeds, psi, cutoff, FLAGS.noise,
                labels):
            for seed, image in zip(chunk, chunk_images):
                images.save_png(outdir / f"seed{seed:04d}.png", image)
            if FLAGS.grid:
                generated.append(chunk_images)
            bar.update(len(chunk))
    if FLAGS.grid:
        images.save_png(outdir / "grid.png", images.image_grid(np.concatenate(generated)))
    print(f"Wrote {len(seeds)} image(s){' and grid.png' if FLAGS.grid else ''} to {outdir}")
    return 0


if __name__ == "__main__":
    flags.mark_flag_as_required("network")
    app.run(main)
