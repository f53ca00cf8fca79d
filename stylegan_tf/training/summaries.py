"""TensorBoard event files written with TensorFlow alone.

`tf.summary.scalar` / `tf.summary.image` need the `tensorboard` package; the event format itself is
part of TensorFlow. These helpers write the same records (the 'scalars' and 'images' plugin
layouts), so a run's events open in TensorBoard without making it a training dependency.

Example:
    writer = SummaryWriter(run_dir)
    writer.scalar("Loss/G_loss", 0.7, step=nimg)
    writer.image("fakes", grid_uint8_hwc, step=nimg)
    writer.flush()
"""

import numpy as np
import tensorflow as tf


def _metadata(plugin_name):
    # The protocol buffer through TensorFlow's public API (tf.compat.v1), as `read_scalars` reads Events.
    return tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name=plugin_name))


class SummaryWriter:
    """Scalars and images into `logdir/events.out.tfevents.*`.

    Args:
        logdir: directory of the event file (the run directory).
    """

    def __init__(self, logdir):
        self._writer = tf.summary.create_file_writer(logdir)
        self._scalar_metadata = _metadata("scalars")
        self._image_metadata = _metadata("images")

    def scalar(self, name, value, step):
        with self._writer.as_default():
            tf.summary.write(name, tf.constant(float(value), tf.float32), step=int(step),
                             metadata=self._scalar_metadata)

    def image(self, name, image, step):
        """One uint8 image [H, W, C] (C = 1 or 3), stored as PNG."""
        image = np.asarray(image, dtype=np.uint8)
        if image.ndim != 3:
            raise ValueError(f"image must be [H, W, C], got shape {image.shape}.")
        height, width = image.shape[:2]
        # The image plugin's layout: [width, height, png, ...] as strings.
        tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)),
                           tf.io.encode_png(image)])
        with self._writer.as_default():
            tf.summary.write(name, tensor, step=int(step), metadata=self._image_metadata)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def read_scalars(path):
    """{tag: [(step, value), ...]} of the scalar records in one event file (for tests/tools)."""
    scalars = {}
    for record in tf.data.TFRecordDataset(path):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "scalars":
                scalars.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    return scalars
