"""Exporting a generator: a Keras `.keras` file, and a TensorFlow SavedModel for serving.

The SavedModel's default signature (`serving_default`) takes

    latents         float32 [N, latent_size]
    labels          float32 [N, label_size]   (conditional networks only)
    truncation_psi  float32 [N]               (1 = no truncation; per image, so that TF Serving's
                                               row format {"instances": [...]} works)

and returns `images`: uint8 [N, H, W, C] (the original's `convert_images_to_uint8`). The
truncation cutoff and the noise mode (`names.NOISE_MODES`) are fixed at export time; with the default stored noise the
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
import numpy as np
import tensorflow as tf

from stylegan_tf import fileio, networks
from stylegan_tf import images as image_utils


def _truncated_images(Gs, latents, labels, truncation_psi, cutoff, noise_mode, lod):
    dlatents = Gs.mapping(latents, labels)
    psi = tf.reshape(truncation_psi, [-1, 1, 1])
    truncated = networks.truncate_dlatents(dlatents, tf.convert_to_tensor(Gs.dlatent_avg), psi, cutoff)
    # psi == 1 skips truncation exactly, as the original does for a Python 1.
    dlatents = tf.where(tf.equal(psi, 1.0), dlatents, truncated)
    # The network's level of detail as exported (0 once trained) settles the progressive networks'
    # lod conditionals statically: no tf.cond in the graph, which ONNX and TFLite convert badly.
    return Gs.synthesis(dlatents, noise_mode=noise_mode, lod_range=(lod, lod))


def _generator_function(Gs, truncation_cutoff, noise_mode, batch, outputs):
    """(function, input_signature) mapping latents (+ labels) and truncation_psi, `batch` rows
    (None: any), to `outputs(images)`."""
    Gs = plain_ops_network(Gs)
    cutoff = Gs.num_layers if truncation_cutoff is None else int(truncation_cutoff)
    signature = [tf.TensorSpec([batch, Gs.latent_size], tf.float32, name="latents")]
    if Gs.label_size:
        signature.append(tf.TensorSpec([batch, Gs.label_size], tf.float32, name="labels"))
    signature.append(tf.TensorSpec([batch], tf.float32, name="truncation_psi"))
    lod = float(np.asarray(Gs.lod)) if hasattr(Gs, "lod") else 0.0  # StyleGAN2-ADA's G_main has none

    def generate(latents, labels, truncation_psi):
        return outputs(_truncated_images(Gs, latents, labels, truncation_psi, cutoff, noise_mode, lod))

    if Gs.label_size:
        return generate, signature
    return (lambda latents, truncation_psi: generate(latents, None, truncation_psi)), signature


def plain_ops_network(Gs):
    """Gs itself, or where it was built with other op forms than the reference (`Runtime.impl`) a
    copy with the reference ones: an export holds plain ops only (no XLA clusters or XLA-only forms),
    and the serving runtimes (TF Serving, TFLite, ONNX) compile or fuse it themselves."""
    return Gs if Gs.runtime.impl == "ref" else Gs.clone(Gs.name, impl="ref")


def serving_function(Gs, truncation_cutoff=8, noise_mode="const"):
    """(function, input_signature) of the serving endpoint described in the module docstring.

    Args:
        Gs: networks.Generator.
        truncation_cutoff: layers truncated (None = every layer).
        noise_mode: 'const' = the stored noise buffers (deterministic); 'random' = fresh noise on
            every request; 'none' = no noise.
    """
    return _generator_function(Gs, truncation_cutoff, noise_mode, None,
                               lambda images: {"images": image_utils.to_uint8_tensor(images)})


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


def export_saved_model(Gs, path, truncation_cutoff=8, noise_mode="const"):
    """Writes a SavedModel folder with the serving signature; atomically; returns the path.

    Args:
        Gs: networks.Generator.
        path: output folder (replaced if it exists).
        truncation_cutoff, noise_mode: see `serving_function`.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    function, signature = serving_function(Gs, truncation_cutoff, noise_mode)
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


def export_tflite(Gs, path, batch_size=1, truncation_cutoff=8):
    """Writes Gs as a TensorFlow Lite flatbuffer with builtin ops only (no TF Select), the stored
    noise and a fixed batch: inputs `latents` [batch, latent_size] (+ `labels`) and
    `truncation_psi` [batch]; outputs uint8 images [batch, H, W, C] (as the SavedModel's) and the
    same as float32 in [-1, 1] (`run_tflite` returns them as `images`, `images_float`). Written
    atomically; returns the path."""
    path = pathlib.Path(path)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")

    def outputs(images):
        images = tf.cast(images, tf.float32)
        # saturate_cast lowers to ClipByValue, which TFLite's builtins lack; clamp, then truncate.
        values = tf.minimum(tf.maximum(images * 127.5 + 128.0, 0.0), 255.0)
        return {"images": tf.cast(values, tf.uint8), "images_float": images}

    Gs = plain_ops_network(Gs)  # once: the mapping below must name the variables the function reads
    function, signature = _generator_function(Gs, truncation_cutoff, "const", int(batch_size), outputs)
    # Weights, noise buffers and dlatent_avg enter the graph as constants (Keras' StatelessScope
    # reads them from this mapping), so that the flatbuffer holds no resource variables (the
    # converter's own freezing left variable reads that the interpreter never initialises).
    values = [(variable, tf.constant(variable.numpy())) for variable in Gs.variables]

    def frozen(*args):
        with keras.StatelessScope(state_mapping=values):
            return function(*args)

    concrete = tf.function(frozen).get_concrete_function(*signature)
    # A trackable object (here an empty one) makes the converter write the `serving_default`
    # signature with the input and output names above.
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], tf.Module())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter raises its own error types, with MLIR dumps
        first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise ValueError(f"TFLite conversion failed: {first}") from None
    with fileio.atomic_write(path) as file:
        file.write(flatbuffer)
    return path


def run_tflite(path, latents, truncation_psi, labels=None):
    """Runs an `export_tflite` file in `tf.lite.Interpreter`: {'images': uint8, 'images_float'}."""
    runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    feeds = {"latents": np.asarray(latents, np.float32), "truncation_psi": np.asarray(truncation_psi, np.float32)}
    if labels is not None:
        feeds["labels"] = np.asarray(labels, np.float32)
    return dict(runner(**feeds))


ONNX_OPSET = 17
ONNX_REQUIREMENTS = "requirements-export.txt"


def export_onnx(Gs, path, truncation_cutoff=8, noise_mode="const", opset=ONNX_OPSET):
    """Writes the serving function (see `serving_function`: latents [N, latent_size] (+ labels),
    truncation_psi [N] -> uint8 images [N, H, W, C], any N) as an ONNX model through tf2onnx, an
    optional dependency (requirements-export.txt). Written atomically; returns the path."""
    try:
        import tf2onnx
    except ImportError:
        raise ValueError(f"ONNX export needs tf2onnx: pip install -r {ONNX_REQUIREMENTS}") from None
    path = pathlib.Path(path)
    function, signature = serving_function(Gs, truncation_cutoff, noise_mode)
    model, _ = tf2onnx.convert.from_function(tf.function(function), input_signature=signature,
                                             opset=int(opset))
    with fileio.atomic_write(path) as file:
        file.write(model.SerializeToString())
    return path
