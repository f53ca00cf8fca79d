"""Style mixing grid (the paper's Figure 3) for any StyleGAN generator.

Rows are destination seeds, columns source seeds; each cell is the row's image with the chosen
style layers taken from the column's seed. The top row and left column show the unmixed images.

    python style_mixing.py --network=ffhq-1024 --size=256
    python style_mixing.py --network=ffhq-1024 --rows=85,100,75 --cols=55,821,1789 --styles=middle
    python style_mixing.py --network=snapshot.pkl --styles=0-3,0-3,4-7 --rows=1,2,3 --cols=4,5

--styles: coarse (layers 0-3, 4^2-8^2), middle (4-7, 16^2-32^2), fine (8+, 64^2 and up), a layer
'i' or a range 'i-j', either one for every row or one per row. The defaults are Figure 3's.
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from stylegan_tf import cli, figures, generation, images, pretrained  # noqa: E402

FLAGS = flags.FLAGS
cli.define_network_flag(flags)
flags.DEFINE_string("rows", ",".join(map(str, figures.FIGURE3_DST_SEEDS)),
                    "Destination seeds, one per row.")
flags.DEFINE_string("cols", ",".join(map(str, figures.FIGURE3_SRC_SEEDS)),
                    "Source seeds, one per column.")
flags.DEFINE_list("styles", list(figures.FIGURE3_ROW_STYLES),
                  "Style layers copied from the column seed: one entry, or one per row.")
cli.define_generation_flags(flags, seeds=None, truncation_psi=1.0, truncation_cutoff=8)  # the paper's: untruncated
flags.DEFINE_integer("size", None, "Width in pixels of one image cell (default: the network's "
                     "resolution).")
cli.define_outdir_flag(flags, "results")
cli.define_xla_flag(flags, "the synthesis")
cli.define_runtime_flags(flags)
flags.DEFINE_bool("cells", False, "Also write each mixed image as row<seed>-col<seed>.png.")
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too


@cli.user_errors_as_messages
def main():
    generation.use_reproducible_arithmetic()
    row_seeds = cli.parse_seeds(FLAGS.rows)
    col_seeds = cli.parse_seeds(FLAGS.cols)
    if len(FLAGS.styles) not in (1, len(row_seeds)):
        raise ValueError(f"--styles has {len(FLAGS.styles)} entries for {len(row_seeds)} "
                         "rows; give one for all rows or one per row.")
    _, _, Gs = pretrained.load_networks(FLAGS.network, runtime=cli.runtime_from_flags(FLAGS),
                                        trusted_sources=cli.trusted_sources_from_flags(FLAGS))
    row_styles = [cli.parse_layer_range(style, Gs.num_layers)
                  for style in FLAGS.styles]
    if len(row_styles) == 1:
        row_styles = row_styles * len(row_seeds)
    labels = cli.make_labels(Gs.label_size, FLAGS.labels, 1)
    scale = figures.cell_scale(FLAGS.size, Gs.resolution)  # checked before anything is generated
    gen = generation.ImageGenerator(Gs, progress=True, xla=FLAGS.xla)
    canvas, cells, _ = figures.style_mixing_grid(
        gen, row_seeds, col_seeds, row_styles, FLAGS.truncation_psi, FLAGS.truncation_cutoff,
        labels)
    outdir = pathlib.Path(FLAGS.outdir)
    path = images.save_png(outdir / "style-mixing.png",
                           figures.scale_canvas(canvas, scale))
    if FLAGS.cells:
        for row_seed, row_cells in zip(row_seeds, cells):
            for col_seed, cell in zip(col_seeds, row_cells):
                images.save_png(outdir / f"row{row_seed}-col{col_seed}.png", cell)
    print(f"Wrote {path} ({len(row_seeds)} x {len(col_seeds)} mixes)")
    return 0


if __name__ == "__main__":
    flags.mark_flag_as_required("network")
    app.run(main)
