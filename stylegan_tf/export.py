"""Exporting a generator: a Keras `.keras` file, and a TensorFlow SavedModel for serving.

The SavedModel's default signature (`serving_default`) takes

    latents         float32 [N, latent_size]
    labels          float32 [N, label_size]   (conditional networks only)
    truncation_psi  float32 [N]               (1 = no truncation; per image, so that TF Serving's
                                               row format {"instances": [...]} works)

and returns `images`: uint8 [N, H, W, C] (the original's `convert_images_to_uint8`). The
truncation cutoff and the noise mode are fixed at export time; with the default stored noise the
served images are deterministic. It loads with `tf.saved_model.load` (no stylegan_tf needed) and
serves with TF Serving as is.

Example:
    export.export_saved_model(Gs, "exported/Gs_savedmodel")
    served = tf.saved_model.load("exported/Gs_savedmodel").signatures["serving_default"]
    images = served(latents=z, truncation_psi=tf.fill([len(z)], 0.7))["images"]
"""

import os
import pathlib
import shutil
import tempfile

import keras
import tensorflow as tf

from stylegan_tf import fileio, networks
from stylegan_tf import images as image_utils


def serving_function(Gs, truncation_cutoff=8, randomize_noise=False):
    """(function, input_signature) of the serving endpoint described in the module docstring.

    Args:
        Gs: networks.Generator.
        truncation_cutoff: layers truncated (None = every layer).
        randomize_noise: False = the stored noise buffers (deterministic); True = fresh noise.
    """
    cutoff = Gs.num_layers if truncation_cutoff is None else int(truncation_cutoff)
    signature = [tf.TensorSpec([None, Gs.latent_size], tf.float32, name="latents")]
    if Gs.label_size:
        signature.append(tf.TensorSpec([None, Gs.label_size], tf.float32, name="labels"))
    signature.append(tf.TensorSpec([None], tf.float32, name="truncation_psi"))

    def generate(latents, labels, truncation_psi):
        dlatents = Gs.mapping(latents, labels)
        psi = tf.reshape(truncation_psi, [-1, 1, 1])
        truncated = networks.truncate_dlatents(dlatents, tf.convert_to_tensor(Gs.dlatent_avg),
                                               psi, cutoff)
        # psi == 1 skips truncation exactly, as the original does for a Python 1.
        dlatents = tf.where(tf.equal(psi, 1.0), dlatents, truncated)
        images = Gs.synthesis(dlatents, randomize_noise=randomize_noise)
        return {"images": image_utils.to_uint8_tensor(images)}

    if Gs.label_size:
        function = generate
    else:
        def function(latents, truncation_psi):
            return generate(latents, None, truncation_psi)
    return function, signature


def export_keras(Gs, path):
    """Saves Gs as a Keras `.keras` archive (reload with `keras.models.load_model` after
    `import stylegan_tf.networks`). Written atomically; returns the path."""
    path = pathlib.Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"a Keras archive needs the .keras extension, got {path}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras",
                                         dir=path.parent)
    os.close(handle)
    try:
        Gs.save(temp_name)
        os.replace(temp_name, path)
    except BaseException:
        if os.path.exists(temp_name):
            os.remove(temp_name)
        raise
    return path


def export_saved_model(Gs, path, truncation_cutoff=8, randomize_noise=False):
    """Writes a SavedModel folder with the serving signature; atomically; returns the path.

    Args:
        Gs: networks.Generator.
        path: output folder (replaced if it exists).
        truncation_cutoff, randomize_noise: see `serving_function`.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    function, signature = serving_function(Gs, truncation_cutoff, randomize_noise)
    archive = keras.export.ExportArchive()
    # The endpoint tracks the variables it uses. Tracking Gs itself would also trace Keras's
    # default `self(inputs)` signature, which fails for conditional networks (labels missing).
    archive.add_endpoint("serve", function, input_signature=signature)
    temp_dir = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        archive.write_out(str(temp_dir / "model"), verbose=False)
        fileio.atomic_replace_dir(str(temp_dir / "model"), str(path))
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return path
