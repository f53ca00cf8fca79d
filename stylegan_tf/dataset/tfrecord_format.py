"""The original StyleGAN dataset format, shared by the reader and the writer.

A dataset directory `D/` holds one uncompressed TFRecord file per resolution, `D/<basename(D)>-rNN.tfrecords`
with NN = log2(resolution), from the full resolution down to 4x4, and optionally `D/<basename(D)>-rxx.labels`
(`np.save` of float32 [num_images, label_size]). Every record is a `tf.train.Example` with the features
`shape` (int64 [C, H, W]) and `data` (the image as uint8 CHW bytes); record i of every file is the same image.
Lower resolutions are 2x2 means computed in float32 from the previous level's unrounded values, stored rounded
half-to-even. The records we write are byte-identical to the original `dataset_tool.py`'s (which serialized
`shape` before `data`). Nothing here needs TensorFlow.
"""
import functools

import numpy as np

SHUFFLE_SEED = 123  # The original's fixed seed for the record order.


def _varint(value):
    """Protobuf base-128 varint of a non-negative int."""
    out = bytearray()
    while True:
        low7 = value & 0x7F
        value >>= 7
        if value:
            out.append(low7 | 0x80)
        else:
            out.append(low7)
            return bytes(out)


def _length_delimited(field_number, payload_len):
    """Tag and length of a length-delimited (wire type 2) protobuf field; the payload follows."""
    return _varint((field_number << 3) | 2) + _varint(payload_len)


@functools.lru_cache(maxsize=64)
def _cached_layout(shape):
    return example_layout(shape)


def example_layout(shape, data_first=False):
    """The bytes around the pixel data in a serialized image record: record = prefix + data + suffix.

    Records hold a `tf.train.Example` whose feature map has two entries, `shape` (int64 [C, H, W], packed)
    and `data` (one bytes value of C*H*W uint8). For a given shape every byte outside the data is fixed once
    the entry order is: the original tool wrote `shape` first (its dict order); protobuf's deterministic mode
    sorts keys, giving `data` first. The reader uses this to check and slice records without parsing them.

    Args:
        shape: [C, H, W].
        data_first: the `data` entry precedes the `shape` entry.

    Returns:
        (prefix, suffix) bytes.
    """
    data_len = int(np.prod(shape))
    packed_shape = b"".join(_varint(int(dim)) for dim in shape)
    # Feature{int64_list (3): Int64List{value (1), packed}}
    int64_list = _length_delimited(1, len(packed_shape)) + packed_shape
    shape_feature = _length_delimited(3, len(int64_list)) + int64_list
    # Feature{bytes_list (1): BytesList{value (1): data}}, up to the data.
    bytes_value_head = _length_delimited(1, data_len)
    data_feature_head = _length_delimited(1, len(bytes_value_head) + data_len) + bytes_value_head
    data_feature_len = len(data_feature_head) + data_len
    # Features{feature (1): map entry{key (1), value (2)}} per feature.
    shape_entry = _length_delimited(1, 5) + b"shape" + _length_delimited(2, len(shape_feature)) + shape_feature
    shape_item = _length_delimited(1, len(shape_entry)) + shape_entry
    data_entry_head = _length_delimited(1, 4) + b"data" + _length_delimited(2, data_feature_len) + data_feature_head
    data_item_head = _length_delimited(1, len(data_entry_head) + data_len) + data_entry_head
    features_len = len(shape_item) + len(data_item_head) + data_len
    example_head = _length_delimited(1, features_len)  # Example{features (1)}
    if data_first:
        return example_head + data_item_head, shape_item
    return example_head + shape_item + data_item_head, b""


def serialize_example(image):
    """Serializes one CHW uint8 image exactly as the original tool did (`shape` entry first).

    Hand-encoded because protobuf's own serializers order map entries arbitrarily (upb) or by key
    (deterministic mode); see example_layout.

    Args:
        image: np.ndarray uint8 [C, H, W].

    Returns:
        bytes of the serialized tf.train.Example.
    """
    assert image.dtype == np.uint8 and image.ndim == 3
    prefix, suffix = _cached_layout(tuple(image.shape))
    return b"".join([prefix, np.ascontiguousarray(image).tobytes(), suffix])


def mip_levels(image):
    """The image at every stored resolution, full size first, down to 4x4, computed the original's way.

    Args:
        image: np.ndarray [C, H, W] (uint8, or any real dtype in [0, 255]), H == W a power of two >= 4.

    Returns:
        list of np.ndarray uint8 [C, H / 2**k, W / 2**k], k = 0 .. log2(H) - 2.
    """
    num_levels = int(np.log2(image.shape[1])) - 1
    level = image
    levels = []
    for lod in range(num_levels):
        if lod:
            # float32 sums of the previous level's unrounded values, in the original's order.
            level = level.astype(np.float32)
            level = (level[:, 0::2, 0::2] + level[:, 0::2, 1::2] + level[:, 1::2, 0::2] + level[:, 1::2, 1::2]) * 0.25
        if level.dtype == np.uint8:
            levels.append(level)
        else:
            levels.append(np.rint(level).clip(0, 255).astype(np.uint8))
    return levels


def encode_image(image):
    """Serialized records of one CHW image at every resolution (full size first); safe to call from threads."""
    return [serialize_example(level) for level in mip_levels(image)]


def shuffled_order(num_images):
    """The original's record order: a permutation of range(num_images) from RandomState(123)."""
    order = np.arange(num_images)
    np.random.RandomState(SHUFFLE_SEED).shuffle(order)
    return order


def one_hot(labels, num_classes):
    onehot = np.zeros((labels.size, num_classes), dtype=np.float32)
    onehot[np.arange(labels.size), labels] = 1.0
    return onehot


def is_power_of_two(value, minimum=1):
    return value >= minimum and value & (value - 1) == 0

