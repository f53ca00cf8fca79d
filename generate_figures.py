"""The StyleGAN paper's figures, with the original release's seeds and layouts.

Without --network: the original's eight figures from the pretrained networks (figures 2-5 and 8
from FFHQ, 10-12 from bedrooms, cars and cats; downloaded once):

    python generate_figures.py --size=256

With --network: the five figure kinds for that network (a registered name, a pickle or a URL):

    python generate_figures.py --network=results/00000-demo/network-final.pkl
    python generate_figures.py --network=celebahq-1024 --figures=style-mixing,truncation-trick

--size sets the width in pixels of one image cell (default: the network's resolution, i.e. the
original's full-size figures). Images use the original's defaults: uncurated and noise-detail
figures draw noise (reproducibly, from the figure's seed), the others use the stored noise.
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from stylegan_tf import cli, figures, generation, images, pretrained  # noqa: E402

FLAGS = flags.FLAGS
cli.define_network_flag(flags, extra=" Default: the original's pretrained networks of each figure.")
flags.DEFINE_list("figures", list(figures.FIGURE_FILES),
                  f"Figure kinds: {', '.join(figures.FIGURE_FILES)}.")
flags.DEFINE_integer("size", None, "Width in pixels of one image cell (default: the network's "
                     "resolution).")
flags.DEFINE_integer("noise_samples", 100, "Noise draws for the noise-detail figure.")
flags.DEFINE_integer("batch_size", 8, "Images per synthesis call.")
cli.define_outdir_flag(flags, "results")
cli.define_xla_flag(flags, "the synthesis")
cli.define_runtime_flags(flags)
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too


def _figure_jobs():
    """[(file name, figure kind, network spec, registry name or None)] to draw, in order."""
    unknown = [kind for kind in FLAGS.figures if kind not in figures.FIGURE_FILES]
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(figures.FIGURE_FILES)}.")
    figures.cell_scale(FLAGS.size, 1)  # the cell width's range, checked before anything is generated
    if FLAGS.network is None:
        return [(name, kind, network, network)
                for name, kind, network in figures.ORIGINAL_FIGURES if kind in FLAGS.figures]
    registered = pretrained.lookup(FLAGS.network)
    return [(figures.FIGURE_FILES[kind] + ".png", kind, FLAGS.network,
             registered.name if registered else None) for kind in FLAGS.figures]


@cli.user_errors_as_messages
def main():
    generation.use_reproducible_arithmetic()
    jobs = _figure_jobs()
    outdir = pathlib.Path(FLAGS.outdir)
    loaded = {}  # network spec -> ImageGenerator (each network loads once)
    for filename, kind, network, registry_name in jobs:
        if network not in loaded:
            loaded.clear()  # keep one network in memory at a time
            _, _, Gs = pretrained.load_networks(network, runtime=cli.runtime_from_flags(FLAGS),
                                                    trusted_sources=cli.trusted_sources_from_flags(FLAGS))
            loaded[network] = generation.ImageGenerator(Gs, FLAGS.batch_size, progress=True, xla=FLAGS.xla)
        figure = figures.draw_figure(kind, loaded[network], registry_name, FLAGS.size,
                                        FLAGS.noise_samples)
        path = images.save_png(outdir / filename, figure)
        print(f"{path} ({figure.width}x{figure.height})")
    return 0


if __name__ == "__main__":
    app.run(main)
