"""Project images into a generator's latent space (the StyleGAN2 release's projector).

    python projector.py --network=ffhq-1024 --target=face.png --outdir=out
    python projector.py --network=results/00000-sgan-demo/network-final.pkl --target=a.png,b.png --space=w+
    python projector.py --network=net.pkl --dataset=datasets/ffhq --num_images=5

Per target, in <outdir>/<name>/: target.png (the target as the network sees it: cropped and
resized to its size), proj.png (the projection), projected_w.npz (`dlatents` [1, num_layers,
dlatent_size] and the noise maps `noise0`..), with --save_video proj.mp4 (the target beside each
step's image). The final LPIPS distance is printed and appended as
a JSON line to <outdir>/projections.jsonl. `generate.py --projected_w=<file>` re-renders one.
"""

import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from stylegan_tf import cli, images, pretrained, projection  # noqa: E402

FLAGS = flags.FLAGS
cli.define_network_flag(flags)
flags.DEFINE_list("target", [], "Image file(s) to project (comma-separated).")
flags.DEFINE_string("dataset", None, "Or: a TFRecord dataset folder whose first --num_images images "
                    "are projected (the release's project-real-images).")
flags.DEFINE_integer("num_images", 3, "Images of --dataset to project.")
flags.DEFINE_enum("space", "w", list(projection.SPACES), "w: one vector for every layer (the "
                  "release's); w+: one vector per layer (closer fits, less editable).")
flags.DEFINE_integer("num_steps", 1000, "Optimisation steps.")
flags.DEFINE_integer("seed", 0, "Seed of the initial noise maps and of the noise added to w.")
flags.DEFINE_float("initial_learning_rate", projection.ProjectionOptions.initial_learning_rate,
                   "Adam's peak learning rate on w and the noise maps (the release's 0.1).")
flags.DEFINE_float("initial_noise_factor", projection.ProjectionOptions.initial_noise_factor,
                   "Noise added to w at the start, times the RMS norm of W's spread, decaying to 0 over the "
                   "first 75% of the steps (the release's 0.05: about 1.1x W's per-coordinate spread, "
                   "exploration sized for 1000 steps; short runs recover known latents better with 0).")
cli.define_outdir_flag(flags, "results/projection")
flags.DEFINE_bool("save_video", False, "Also write proj.mp4: the target beside the image of every "
                  "optimisation step (H.264).")
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too


def _targets(Gs):
    """[(name, float target image)] from --target or --dataset."""
    if bool(FLAGS.target) == bool(FLAGS.dataset):
        raise ValueError("give either --target=<image files> or --dataset=<TFRecord folder>.")
    if FLAGS.target:
        targets = []
        for path in FLAGS.target:
            image, note = projection.load_target_image(path, Gs.resolution, Gs.num_channels)
            if note:
                print(f"{path}: {note} (the network makes {Gs.resolution}x{Gs.resolution}).")
            targets.append((pathlib.Path(path).stem, image))
        return projection.unique_target_names(targets)
    from stylegan_tf.metrics import evaluation
    options = evaluation.EvaluationOptions(tfrecord_dir=FLAGS.dataset, progress=False)
    evaluation.check_reals_match(Gs, options, FLAGS.num_images)
    reals = next(evaluation.iterate_reals(options, FLAGS.num_images))
    return [(f"image{index:04d}", image.astype(np.float32) / 127.5 - 1.0)
            for index, image in enumerate(reals[:FLAGS.num_images])]


@cli.user_errors_as_messages
def main():
    if FLAGS.num_steps < 1:
        raise ValueError(f"--num_steps must be at least 1, got {FLAGS.num_steps}.")
    options = projection.ProjectionOptions(num_steps=FLAGS.num_steps, initial_learning_rate=FLAGS.initial_learning_rate,
                                           initial_noise_factor=FLAGS.initial_noise_factor)
    _, _, Gs = pretrained.load_networks(FLAGS.network, trusted_sources=cli.trusted_sources_from_flags(FLAGS))
    targets = _targets(Gs)
    outdir = pathlib.Path(FLAGS.outdir)
    for name, target in targets:
        folder = outdir / name
        if FLAGS.save_video:
            from stylegan_tf import video
            target_uint8 = images.to_uint8(target[np.newaxis])[0]
            with video.VideoWriter(folder / "proj.mp4") as writer:
                result = projection.project(
                    Gs, target, space=FLAGS.space, seed=FLAGS.seed, options=options, progress=True,
                    on_image=lambda image: writer.append(np.concatenate([target_uint8, images.to_uint8(image)[0]],
                                                                        axis=1)))
        else:
            result = projection.project(Gs, target, space=FLAGS.space, seed=FLAGS.seed, options=options,
                                        progress=True)
        images.save_png(folder / "target.png", images.to_uint8(target[np.newaxis])[0])
        images.save_png(folder / "proj.png", images.to_uint8(result.image)[0])
        projection.save_projection(folder / "projected_w.npz", result)
        distance = result.final_distance
        record = {"target": name, "space": FLAGS.space, "num_steps": FLAGS.num_steps,
                  "seed": FLAGS.seed, "lpips": distance, "lpips_initial": float(result.distances[0])}
        outdir.mkdir(parents=True, exist_ok=True)
        with open(outdir / "projections.jsonl", "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        print(f"{name}: LPIPS {result.distances[0]:.4f} -> {distance:.4f} after {FLAGS.num_steps} "
              f"steps; {folder}")
    return 0


if __name__ == "__main__":
    flags.mark_flag_as_required("network")
    app.run(main)
