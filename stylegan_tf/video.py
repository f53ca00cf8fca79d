"""Latent-walk videos: a smooth path through the latents of a list of seeds, one H.264 MP4.

Between consecutive seeds the path takes `frames_per_seed` steps: in Z, spherical interpolation
of the seeds' latents (then mapping and truncation, as for images); in W, linear interpolation of
their truncated dlatents. The noise is the network's stored noise in every frame, so only the
styles move. Frames are written with imageio and the ffmpeg binary of the imageio-ffmpeg wheel.

Example:
    dlatents = walk_dlatents(gen, seeds=[0, 1, 2], frames_per_seed=60, space="z")
    write_video("walk.mp4", gen.synthesize(dlatents), fps=30)
"""
import os
import pathlib

import numpy as np
import tensorflow as tf

from stylegan_tf import generation
from stylegan_tf.metrics.perceptual_path_length import slerp

SPACES = ("z", "w")


def walk_dlatents(gen, seeds, frames_per_seed=60, space="z", truncation_psi=None, truncation_cutoff=None,
                  labels=None):
    """dlatents [(len(seeds) - 1) * frames_per_seed + 1, layers, D] of the walk through `seeds`;
    frame k * frames_per_seed is exactly seed k's image."""
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"a walk needs at least 2 seeds, got {len(seeds)}.")
    if frames_per_seed < 1:
        raise ValueError(f"frames_per_seed must be >= 1, got {frames_per_seed}.")
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}.")
    latents = generation.latents_from_seeds(seeds, gen.Gs.latent_size)
    t = np.arange(frames_per_seed, dtype=np.float32) / frames_per_seed
    label_rows = None if labels is None else np.asarray(labels, np.float32)[:1]

    def repeated(count):
        return None if label_rows is None else np.repeat(label_rows, count, axis=0)

    if space == "w":
        keys = gen.dlatents(latents, repeated(len(seeds)), truncation_psi, truncation_cutoff)
        frames = [keys[k] + (keys[k + 1] - keys[k]) * t[:, None, None] for k in range(len(seeds) - 1)]
        return np.concatenate(frames + [keys[-1:]]).astype(np.float32)
    path = [slerp(np.repeat(latents[k:k + 1], frames_per_seed, 0), np.repeat(latents[k + 1:k + 2], frames_per_seed, 0),
                  tf.constant(t[:, None])).numpy() for k in range(len(seeds) - 1)]
    # slerp works on directions: scale back to each key's norm (the mapping normalises anyway).
    norms = [np.linalg.norm(latents[k]) * (1 - t[:, None]) + np.linalg.norm(latents[k + 1]) * t[:, None]
             for k in range(len(seeds) - 1)]
    path = np.concatenate([p * n for p, n in zip(path, norms)] + [latents[-1:]])
    path[::frames_per_seed] = latents  # the keys exactly
    return gen.dlatents(path, repeated(len(path)), truncation_psi, truncation_cutoff)


class VideoWriter:
    """Streams uint8 frames [H, W, C] (C = 1 or 3) into an H.264 MP4 (imageio's quality 0-10); the
    file appears at `path` only when the `with` block completes, a failure leaves none.

    Example:
        with VideoWriter("proj.mp4", fps=30) as writer:
            for frame in frames:
                writer.append(frame)
    """

    def __init__(self, path, fps=30, quality=8):
        self.path = pathlib.Path(path)
        self.fps, self.quality = fps, quality
        # ffmpeg picks the container by the suffix
        self.temp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix or '.mp4'}")
        self.writer = None

    def __enter__(self):
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise ValueError("videos need imageio and imageio-ffmpeg: pip install -r requirements.txt") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = imageio.get_writer(str(self.temp), fps=self.fps, codec="libx264", quality=self.quality,
                                         macro_block_size=1, ffmpeg_log_level="error")
        return self

    def append(self, frame):
        frame = np.asarray(frame, np.uint8)
        self.writer.append_data(np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame)

    def __exit__(self, exc_type, exc, traceback):
        try:
            self.writer.close()
            if exc_type is None:
                os.replace(self.temp, self.path)
        finally:
            self.temp.unlink(missing_ok=True)
        return False


def write_video(path, frames, fps=30, quality=8):
    """uint8 frames [N, H, W, C] (C = 1 or 3) -> H.264 MP4 at `path`; a failure leaves no file."""
    with VideoWriter(path, fps, quality) as writer:
        for frame in frames:
            writer.append(frame)
    return pathlib.Path(path)
