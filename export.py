"""Export a generator (Gs) as a Keras `.keras` file and/or a TensorFlow SavedModel for serving.

    python export.py --network=ffhq-1024 --format=both --outdir=exported

Writes <outdir>/Gs.keras (reload: `import stylegan_tf.networks; keras.models.load_model(...)`)
and <outdir>/Gs_savedmodel/ whose `serving_default` signature maps latents [N, latent_size]
(+ labels [N, label_size] for conditional networks) and truncation_psi [N] to uint8 images
[N, H, W, C]. TF Serving loads numbered versions: copy the folder to <model_root>/1/ and run
`tensorflow_model_server --rest_api_port=8501 --model_name=stylegan --model_base_path=<model_root>`.

`--format=tflite` writes <outdir>/Gs.tflite for TensorFlow Lite / LiteRT (builtin ops only, the
stored noise, a fixed `--batch_size`): inputs `latents` and `truncation_psi`, outputs the uint8
images and the float images in [-1, 1] (`stylegan_tf.export.run_tflite` runs it).
`--format=onnx` writes <outdir>/Gs.onnx with the SavedModel's inputs and uint8 `images` output,
any batch (tf2onnx, from requirements-export.txt; run it with ONNX Runtime).
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from stylegan_tf import cli, export, names, pretrained  # noqa: E402

FLAGS = flags.FLAGS
cli.define_network_flag(flags)
flags.DEFINE_enum("format", "both", ["keras", "savedmodel", "both", "tflite", "onnx"], "What to write: "
                  "both = keras + savedmodel; tflite = Gs.tflite (builtin ops, stored noise, fixed batch); "
                  "onnx = Gs.onnx (needs pip install -r requirements-export.txt).")
flags.DEFINE_integer("batch_size", 1, "TFLite: the fixed batch of the exported model.")
cli.define_outdir_flag(flags, "exported")
flags.DEFINE_integer("truncation_cutoff", 8, "SavedModel: layers that truncation_psi applies to.")
flags.DEFINE_enum("noise", "const", list(names.NOISE_MODES), "SavedModel and ONNX: const = the stored noise "
                  "(deterministic images); random = fresh noise on every request; none = no noise.")
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too


@cli.user_errors_as_messages
def main():
    _, _, Gs = pretrained.load_networks(FLAGS.network, trusted_sources=cli.trusted_sources_from_flags(FLAGS))
    outdir = pathlib.Path(FLAGS.outdir)
    written = []
    if FLAGS.format in ("keras", "both"):
        written.append(export.export_keras(Gs, outdir / "Gs.keras"))
    if FLAGS.format in ("savedmodel", "both"):
        written.append(export.export_saved_model(
            Gs, outdir / "Gs_savedmodel", truncation_cutoff=FLAGS.truncation_cutoff,
            noise_mode=FLAGS.noise))
    if FLAGS.format == "tflite":
        written.append(export.export_tflite(Gs, outdir / "Gs.tflite", batch_size=FLAGS.batch_size,
                                            truncation_cutoff=FLAGS.truncation_cutoff))
    if FLAGS.format == "onnx":
        written.append(export.export_onnx(Gs, outdir / "Gs.onnx", truncation_cutoff=FLAGS.truncation_cutoff,
                                          noise_mode=FLAGS.noise))
    for path in written:
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    flags.mark_flag_as_required("network")
    app.run(main)
