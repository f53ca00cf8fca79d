"""TensorBoard event files written with TensorFlow alone: the records TensorBoard's plugins read."""

import numpy as np
import tensorflow as tf

from stylegan_tf.training import summaries


def test_scalars_and_images_round_trip(tmp_path):
    writer = summaries.SummaryWriter(str(tmp_path))
    writer.scalar("Loss/G_loss", 0.75, step=128)
    writer.scalar("Loss/G_loss", 0.5, step=256)
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    writer.image("fakes", image, step=256)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    assert summaries.read_scalars(str(path)) == {"Loss/G_loss": [(128, 0.75), (256, 0.5)]}
    images = []
    for record in tf.data.TFRecordDataset(str(path)):
        event = tf.compat.v1.Event.FromString(record.numpy())
        images += [value for value in event.summary.value if value.metadata.plugin_data.plugin_name == "images"]
    (value,) = images
    width, height, png = tf.make_ndarray(value.tensor)
    assert (int(width), int(height)) == (6, 4)
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), image)
