"""Datasets in the original StyleGAN on-disk format: multi-resolution TFRecords.

`tfrecord_format` (the record and file layout, shared by reader and writer), `reader`
(`TFRecordDataset`: `tf.data` pipelines per lod), `writer` (the atomic exporter), `image_folder` and
`sources` (what `dataset_tool.py` converts from), `inspect` (info, display, extract, compare),
`demo` (the embedded demo dataset).
"""

_READER_NAMES = ("TFRecordDataset", "error_message")


def __getattr__(name):
    # Lazy, so that dataset_tool.py's writers do not import TensorFlow before they need it.
    if name in _READER_NAMES:
        from stylegan_tf.dataset import reader
        return getattr(reader, name)
    raise AttributeError(f"module 'stylegan_tf.dataset' has no attribute {name!r}")
