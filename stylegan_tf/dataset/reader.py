"""Multi-resolution TFRecord datasets (the original StyleGAN format) as `tf.data` pipelines.

Reads the directories written by `dataset_tool.py`, ours or the original's: one TFRecord file per resolution
(`<name>-rNN.tfrecords`, records are `tf.train.Example`s with `shape` = [C, H, W] and `data` = uint8 CHW bytes)
and an optional `<name>-rxx.labels` (`np.save` of float32 [N, label_size]). Images come out channels-last.

    ds = TFRecordDataset("datasets/ffhq", max_label_size="full")
    for images, labels in ds.make_dataset(lod=2, batch_size=16).take(10):
        ...  # images uint8 [16, R/4, R/4, C], labels float32 [16, label_size]

As in the original, images are zipped with the label rows, so a set without labels yields at most its first
2**20 records (its label array is zeros [2**20, 0]).
"""
import glob
import math
import os
import struct

import numpy as np
import tensorflow as tf

from stylegan_tf import images as image_utils
from stylegan_tf import npz, ops
from stylegan_tf.dataset import tfrecord_format

UNLABELED_RECORD_LIMIT = 1 << 20  # Rows of the original's empty label array, hence its cap on unlabeled sets.
_CORRUPT = "Corrupt dataset file"  # Starts every message about a bad record (see error_message).
_FRAME_OVERHEAD = 16  # Per TFRecord: uint64 length, uint32 crc of it, the data, uint32 crc of the data.
_FEATURES = {
    # Defaults make the end marker (an empty string) parse, to be reported with its index by the shape check.
    "shape": tf.io.FixedLenFeature([3], tf.int64, default_value=[0, 0, 0]),
    "data": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def parse_tfrecord_np(record, where="record"):
    """Decodes one serialized record to a NumPy uint8 array [C, H, W] (the original's layout).

    Raises:
        ValueError: naming `where`, for a record that is not a tf.train.Example, or an Example of
            another format (e.g. TFDS' `image/encoded`), or whose pixels do not fill its shape.
    """
    try:
        example = tf.train.Example.FromString(record)
    except Exception as error:  # protobuf's DecodeError (its module differs between implementations)
        raise ValueError(f"{where} is not a tf.train.Example ({type(error).__name__}: {error})") from None
    features = example.features.feature
    if "shape" not in features or "data" not in features or not features["data"].bytes_list.value:
        found = ", ".join(sorted(features)) or "no features"
        raise ValueError(f"{where} is a tf.train.Example without the StyleGAN format's 'shape' and 'data' "
                         f"features (it has {found}); convert the images with dataset_tool.py")
    shape = [int(value) for value in features["shape"].int64_list.value]
    data = features["data"].bytes_list.value[0]
    if len(shape) != 3 or min(shape) < 1 or int(np.prod(shape)) != len(data):
        raise ValueError(f"{where} holds {len(data)} bytes of pixels for the shape {shape}")
    return np.frombuffer(data, np.uint8).reshape(shape)


def _read_first_record(path):
    """The first record's bytes, read directly (no TensorFlow op needed for a header)."""
    with open(path, "rb") as file:
        header = file.read(12)
        if len(header) < 12:
            raise ValueError(f'"{path}" is empty or truncated: it holds no complete TFRecord')
        (length,) = struct.unpack("<Q", header[:8])
        if length > os.path.getsize(path) - 12:  # before reading: a crafted header may claim terabytes
            raise ValueError(f'"{path}": record 0 declares {length} bytes, more than the file holds')
        record = file.read(length)
        if len(record) != length:
            raise ValueError(f'"{path}": record 0 is truncated')
    return record


def count_records(path):
    """Number of records in a TFRecord file, from the framing alone (checksums are checked when reading).

    Files written by a dataset tool hold records of one size; that is confirmed from the first and last
    headers. Other files are walked header by header.

    Raises:
        ValueError: naming the file and record if the file ends inside a record.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        header = file.read(8)
        if len(header) < 8:
            if size == 0:
                return 0
            raise ValueError(f'"{path}": record 0 is truncated')
        (length,) = struct.unpack("<Q", header)
        record_size = length + _FRAME_OVERHEAD
        if size % record_size == 0:
            file.seek(size - record_size)
            (last_length,) = struct.unpack("<Q", file.read(8))
            if last_length == length:
                return size // record_size
        offset, index = 0, 0
        while offset < size:
            file.seek(offset)
            header = file.read(8)
            if len(header) < 8:
                raise ValueError(f'"{path}": record {index} is truncated (at byte {offset} of {size})')
            (length,) = struct.unpack("<Q", header)
            offset += length + _FRAME_OVERHEAD
            if offset > size:
                raise ValueError(f'"{path}": record {index} is truncated (at byte {offset} of {size})')
            index += 1
        return index


def error_message(error):
    """The readable part of an error raised while iterating a dataset (ours, without TensorFlow's op context)."""
    text = str(getattr(error, "message", None) or error)
    start = text.find(_CORRUPT)
    if start < 0:
        return text
    line = text[start:].split("\n", 1)[0]  # TensorFlow appends "]" and the op context after the message.
    return line[:-1] if line.endswith("]") else line


def _pixel_function(shape, offsets, drange, mirror_augment, jit_compile=True):
    """A function (raw [N, L] uint8, use_second [N] bool, flip [N] bool) -> images [N, H, W, C], mostly XLA.

    Args:
        shape: [C, H, W] of the stored images.
        offsets: where the pixels start in a raw record: one offset, or two (the second used where use_second).
        drange: None (uint8 output) or (low, high) (float32, the original's x * (high - low) / 255 + low).
        mirror_augment: reverse the width axis where flip.
        jit_compile: compile the slicing, transposing and mirroring with XLA.
    """
    channels, height, width = shape
    size = channels * height * width

    @tf.function(jit_compile=jit_compile)
    def pixels(raw, use_second, flip):
        data = raw[:, offsets[0]:offsets[0] + size]
        if len(offsets) > 1:
            data = tf.where(use_second[:, None], raw[:, offsets[1]:offsets[1] + size], data)
        batch = raw.shape[0] if raw.shape[0] is not None else -1  # Keep a static batch size static.
        images = tf.transpose(tf.reshape(data, [batch, channels, height, width]), [0, 2, 3, 1])  # [NHWC]
        if mirror_augment:
            images = ops.mirror(images, flip)
        return images

    def pixels_in_drange(raw, use_second, flip):
        images = pixels(raw, use_second, flip)
        if drange is None:
            return images
        # The original's adjust_dynamic_range, x * scale + bias, rounded twice: outside XLA, which would fuse
        # it into one fused multiply-add and change the last bit of some values.
        return image_utils.adjust_dynamic_range(tf.cast(images, tf.float32), [0, 255], drange)
    return pixels_in_drange


class TFRecordDataset:
    """A multi-resolution dataset directory, read as `tf.data` pipelines for any level of detail.

    Args:
        tfrecord_dir: directory holding `*.tfrecords` files, one per resolution, all the way down to 4x4.
        resolution: dataset resolution (None: the largest file's); files above it are ignored.
        label_file: labels file, absolute or relative to tfrecord_dir (None: the first `*.labels` in the directory).
        max_label_size: 0 (no labels), 'full' (all label components) or N (the first N components).
        shuffle_mb: shuffle buffer in megabytes of decoded images (the original's 4096; 0: no shuffling).
        buffer_mb: read buffer of each file in megabytes.
        jit_compile: turn records into images with XLA (False: plain TensorFlow ops, several times slower).
        parallel_batches: batches decoded at once (a fixed number, not tf.data's autotuning: its
            background thread makes deleting an iterator wait, up to a minute and more in a long run,
            at every lod change and at the end of training).
        prefetch_batches: decoded batches kept ready ahead of the consumer.

    Attributes:
        resolution, resolution_log2, num_channels, label_size: python ints.
        shape: (R, R, C), channels-last.
        labels: np.float32 [num_label_rows, label_size].
        num_images: images a pass yields (records, capped by the label rows as the original's zip does).
        tfrecord_files: {lod: path} of the files in use.
        dtype, dynamic_range, label_dtype: as the original ('uint8', [0, 255], 'float32').
    """

    def __init__(self, tfrecord_dir, resolution=None, label_file=None, max_label_size=0, shuffle_mb=4096,
                 buffer_mb=256, jit_compile=True, parallel_batches=2, prefetch_batches=2):
        if int(parallel_batches) < 1 or int(prefetch_batches) < 1:
            raise ValueError(f"parallel_batches and prefetch_batches must be >= 1, got {parallel_batches} "
                             f"and {prefetch_batches}")
        self.tfrecord_dir = tfrecord_dir
        self.parallel_batches = int(parallel_batches)
        self.prefetch_batches = int(prefetch_batches)
        self.shuffle_mb = shuffle_mb
        self.buffer_mb = buffer_mb
        self.jit_compile = jit_compile
        self.dtype = "uint8"
        self.dynamic_range = [0, 255]
        self.label_dtype = "float32"
        self._cache = {}

        self._find_files(tfrecord_dir, resolution)
        self._count_records()
        self._load_labels(label_file, max_label_size)
        self.num_images = min(self.num_records, self.labels.shape[0])
        self._labels_tensor = None

    def _find_files(self, tfrecord_dir, resolution):
        """The resolution, channels and the file of each level of detail, checked."""
        if not os.path.isdir(tfrecord_dir):
            raise ValueError(f'dataset directory "{tfrecord_dir}" does not exist')
        paths = sorted(glob.glob(os.path.join(tfrecord_dir, "*.tfrecords")))
        if not paths:
            raise ValueError(f'no *.tfrecords files in "{tfrecord_dir}"')
        shapes = {path: tuple(int(dim) for dim in parse_tfrecord_np(_read_first_record(path),
                                                                      f'"{path}": record 0').shape)
                  for path in paths}
        for path, shape in shapes.items():
            if len(shape) != 3 or shape[1] != shape[2] or shape[1] < 1 or shape[1] & (shape[1] - 1):
                raise ValueError(f'"{path}" holds images of shape [C, H, W] = {list(shape)}; '
                                 "expected square, power-of-two images")

        # Resolution and the file of each level of detail.
        largest = max(shapes.values(), key=np.prod)
        self.resolution = int(resolution) if resolution is not None else largest[1]
        if self.resolution < 4 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {self.resolution}")
        self.resolution_log2 = int(np.log2(self.resolution))
        self.num_channels = largest[0]
        self.tfrecord_files = {}
        self._record_shapes = {}
        for path, shape in shapes.items():
            if shape[0] != self.num_channels:
                raise ValueError(f'"{path}" has {shape[0]} channels but "{paths[0]}" has {self.num_channels}')
            if shape[1] > self.resolution:
                continue  # Files above the requested resolution are not used (original behaviour).
            lod = self.resolution_log2 - int(np.log2(shape[1]))
            if lod in self.tfrecord_files:
                raise ValueError(f'"{self.tfrecord_files[lod]}" and "{path}" both hold {shape[1]}x{shape[1]} '
                                 "images; keep one dataset per directory")
            self.tfrecord_files[lod] = path
            self._record_shapes[lod] = shape
        missing = [lod for lod in range(self.resolution_log2 - 1) if lod not in self.tfrecord_files]
        if missing:
            sizes = ", ".join(f"{self.resolution >> lod}x{self.resolution >> lod}" for lod in missing)
            raise ValueError(f'"{tfrecord_dir}" lacks the files for {sizes} (every resolution from '
                             f"{self.resolution}x{self.resolution} down to 4x4 is needed)")
        self.shape = (self.resolution, self.resolution, self.num_channels)

    def _count_records(self):
        """Every file must hold the same images; a shorter one is truncated."""
        tfrecord_dir = self.tfrecord_dir
        self._num_records = {lod: count_records(path) for lod, path in self.tfrecord_files.items()}
        counts = sorted(set(self._num_records.values()))
        if len(counts) > 1:
            listing = ", ".join(f"{os.path.basename(path)}: {self._num_records[lod]}"
                                for lod, path in sorted(self.tfrecord_files.items()))
            raise ValueError(f'the files of "{tfrecord_dir}" hold different numbers of records ({listing}); '
                             "one of them is truncated or from another dataset")
        self.num_records = counts[0]

    def _load_labels(self, label_file, max_label_size):
        """The original's lookup: explicit path, else relative to the directory, else the first *.labels."""
        tfrecord_dir = self.tfrecord_dir
        self.label_file = label_file
        if label_file is None:
            guesses = sorted(glob.glob(os.path.join(tfrecord_dir, "*.labels")))
            self.label_file = guesses[0] if guesses else None
        elif not os.path.isfile(label_file):
            guess = os.path.join(tfrecord_dir, label_file)
            if not os.path.isfile(guess):
                raise ValueError(f'label file "{label_file}" does not exist')
            self.label_file = guess
        if not (max_label_size == "full" or (isinstance(max_label_size, (int, np.integer)) and max_label_size >= 0)):
            raise ValueError(f"max_label_size must be 'full' or an int >= 0, got {max_label_size!r}")
        self.labels = np.zeros([UNLABELED_RECORD_LIMIT, 0], dtype=np.float32)
        if self.label_file is not None and max_label_size != 0:
            labels = npz.load_npy(self.label_file, "label file (.npy)")
            if labels.ndim != 2:
                raise ValueError(f'"{self.label_file}" must hold a 2-D array, got shape {list(labels.shape)}')
            self.labels = labels.astype(np.float32)
        if max_label_size != "full" and self.labels.shape[1] > max_label_size:
            self.labels = self.labels[:, :max_label_size]
        self.label_size = int(self.labels.shape[1])

    # ------------------------------------------------------------------------------------------------------------

    def get_random_labels(self, n, rng=None):
        """n random rows of the label array, float32 [n, label_size].

        Args:
            n: number of rows.
            rng: np.random.RandomState or np.random.Generator (None: NumPy's global state, as the original).
        """
        if self.label_size == 0:
            return np.zeros([n, 0], dtype=np.float32)
        rows = self.labels.shape[0]
        if rng is None:
            indices = np.random.randint(rows, size=[n])
        elif isinstance(rng, np.random.Generator):
            indices = rng.integers(rows, size=[n])
        else:
            indices = rng.randint(rows, size=[n])
        return self.labels[indices]

    def _lod_index(self, lod):
        level = int(math.floor(lod))
        if level not in self.tfrecord_files:
            raise ValueError(f"lod must lie in [0, {self.resolution_log2 - 2}] for this "
                             f"{self.resolution}x{self.resolution} dataset, got {lod}")
        return level

    def _records(self, lod, count):
        """(index, serialized record) of the first `count` records of one file.

        The native reader checks the checksums but its errors name neither file nor record. So a read error
        ends the file quietly (ignore_errors) and an empty end marker follows; with an intact file the marker
        lies beyond `count` and is never read, otherwise it stands at the index of the bad record, and
        decoding reports it with the file name (see _decoder).
        """
        records = tf.data.TFRecordDataset(self.tfrecord_files[lod], buffer_size=self.buffer_mb << 20)
        records = records.ignore_errors()
        records = records.concatenate(tf.data.Dataset.from_tensors(tf.constant(b"", tf.string)))
        return records.enumerate().take(count)

    def _decoder(self, lod, drange, mirror_augment):
        """A batch function (indices, serialized records, flip) -> images [N, H, W, C].

        Records written by the original tool or ours have fixed bytes around the pixels (example_layout), so
        they are checked and sliced without parsing; files from other writers go through parse_example.
        Bad records raise an error naming the file and the record indices. The pixel work (slice, CHW -> HWC,
        mirror) is one XLA-compiled function: TensorFlow's own uint8 transpose is the bottleneck otherwise
        (several times slower at 256x256 on a CPU).
        """
        path = self.tfrecord_files[lod]
        shape = self._record_shapes[lod]
        data_size = int(np.prod(shape))
        first = _read_first_record(path)
        first_data = parse_tfrecord_np(first).tobytes()
        # Both entry orders give records of one length; the first record's order is the usual one.
        layouts = [tfrecord_format.example_layout(shape, data_first) for data_first in (False, True)]
        layouts.sort(key=lambda layout: first != layout[0] + first_data + layout[1])
        known_layout = first == layouts[0][0] + first_data + layouts[0][1]
        shown_path = path.replace("{", "(").replace("}", ")")  # Braces would be format placeholders.
        problem = (f"{_CORRUPT} {shown_path}: record(s) {{}} fail the TFRecord checksum, end the file early, "
                   f"or are not {list(shape)} uint8 images")

        def check(indices, valid):
            return tf.debugging.Assert(tf.reduce_all(valid), [tf.strings.format(
                problem, [tf.boolean_mask(indices, tf.logical_not(valid))], summarize=10)], name="check_records")

        if known_layout:
            record_size = len(layouts[0][0]) + data_size + len(layouts[0][1])
            pixels = _pixel_function(shape, [len(prefix) for prefix, _ in layouts], drange, mirror_augment,
                                     self.jit_compile)

            def decode(indices, records, flip):
                lengths = tf.strings.length(records)
                matches = []
                for prefix, suffix in layouts:
                    match = tf.logical_and(tf.equal(lengths, record_size),
                                           tf.equal(tf.strings.substr(records, 0, len(prefix)), prefix))
                    if suffix:
                        # Positions past a short record's end are an error; clamp them (such records fail anyway).
                        suffix_pos = tf.minimum(lengths, record_size - len(suffix))
                        match = tf.logical_and(match, tf.equal(tf.strings.substr(
                            records, suffix_pos, tf.fill(tf.shape(records), len(suffix))), suffix))
                    matches.append(match)
                with tf.control_dependencies([check(indices, tf.logical_or(*matches))]):
                    raw = tf.io.decode_raw(records, tf.uint8)  # [N, record_size]: all lengths are equal now.
                return pixels(raw, tf.logical_not(matches[0]), flip)
        else:
            pixels = _pixel_function(shape, [0], drange, mirror_augment, self.jit_compile)

            def decode(indices, records, flip):
                names = tf.strings.join([f"{path} record ", tf.strings.as_string(indices)])
                features = tf.io.parse_example(records, _FEATURES, example_names=names)
                valid = tf.logical_and(
                    tf.reduce_all(tf.equal(features["shape"], tf.constant(shape, tf.int64)), axis=1),
                    tf.equal(tf.strings.length(features["data"]), data_size))
                with tf.control_dependencies([check(indices, valid)]):
                    raw = tf.io.decode_raw(features["data"], tf.uint8)
                return pixels(raw, tf.zeros(tf.shape(indices), tf.bool), flip)
        return decode

    def make_dataset(self, lod, batch_size, shuffle=True, repeat=True, mirror_augment=False, max_images=None,
                     drange=None, seed=None, input_context=None, drop_remainder=None):
        """Batches of (images, labels) at one level of detail; built once per argument set and cached.

        Args:
            lod: level of detail; images are 2**(resolution_log2 - floor(lod)) pixels square.
            batch_size: images per batch (per replica when input_context is given).
            shuffle: shuffle with a buffer of shuffle_mb megabytes (capped at the dataset size).
            repeat: loop forever.
            mirror_augment: flip each image horizontally with probability 0.5.
            max_images: use only the first max_images records (None: all).
            drange: None for uint8 [0, 255]; or (low, high) for float32 mapped linearly from [0, 255].
            seed: seed of the shuffle and the mirroring (None: random).
            input_context: tf.distribute.InputContext; shards the records by input pipeline.
            drop_remainder: drop a final short batch (None: when repeat, so that batches have a static shape).

        Returns:
            tf.data.Dataset of (images [batch, H, W, C] uint8 or float32, labels float32 [batch, label_size]).
        """
        level = self._lod_index(lod)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_images is not None and max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {max_images}")
        if drange is not None:
            drange = (float(drange[0]), float(drange[1]))
        drop_remainder = repeat if drop_remainder is None else bool(drop_remainder)
        pipelines = (input_context.num_input_pipelines, input_context.input_pipeline_id) if input_context else (1, 0)
        key = (level, batch_size, shuffle, repeat, mirror_augment, max_images, drange, seed, pipelines,
               drop_remainder)
        if key not in self._cache:
            self._cache[key] = self._build(level, batch_size, shuffle, repeat, mirror_augment, max_images, drange,
                                           seed, pipelines, drop_remainder)
        return self._cache[key]

    def _build(self, level, batch_size, shuffle, repeat, mirror_augment, max_images, drange, seed, pipelines,
               drop_remainder):
        channels, height, width = self._record_shapes[level]
        num_images = self.num_images if max_images is None else min(max_images, self.num_images)
        records = self._records(level, num_images)
        num_pipelines, pipeline_id = pipelines
        if num_pipelines > 1:
            records = records.shard(num_pipelines, pipeline_id)
        if shuffle and self.shuffle_mb > 0:
            bytes_per_image = channels * height * width
            buffer = min(-(-(self.shuffle_mb << 20) // bytes_per_image), -(-num_images // num_pipelines))
            records = records.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            records = records.repeat()
        batches = records.batch(batch_size, drop_remainder=drop_remainder)
        if self.label_size and self._labels_tensor is None:
            self._labels_tensor = tf.constant(self.labels[:self.num_images])
        labels_table = self._labels_tensor
        decode_images = self._decoder(level, drange, mirror_augment)

        def decode(indices, records, random_int):
            batch = indices.shape[0] if indices.shape[0] is not None else tf.shape(indices)[0]
            if mirror_augment:
                flip = tf.random.stateless_uniform([batch], seed=tf.stack([random_int, 0])) < 0.5
            else:
                flip = tf.zeros([batch], tf.bool)
            images = decode_images(indices, records, flip)
            if labels_table is not None:
                labels = tf.gather(labels_table, indices)
            else:
                labels = tf.zeros([batch, 0], tf.float32)
            return images, labels

        # One random int per batch seeds a stateless draw, so that a given seed replays the same flips.
        randoms = tf.data.Dataset.random(seed=seed) if mirror_augment else tf.data.Dataset.from_tensors(
            tf.constant(0, tf.int64)).repeat()
        batches = tf.data.Dataset.zip((batches, randoms))
        batches = batches.map(lambda batch, random_int: decode(*batch, random_int),
                              num_parallel_calls=self.parallel_batches)
        options = tf.data.Options()
        options.autotune.enabled = False  # see parallel_batches
        return batches.prefetch(self.prefetch_batches).with_options(options)

    def distribute(self, strategy, lod, global_batch_size, **kwargs):
        """The make_dataset batches for a tf.distribute strategy, via distribute_datasets_from_function
        (with one replica, the make_dataset batches themselves).

        Each input pipeline (worker) reads every num_input_pipelines-th record; each replica gets
        global_batch_size // num_replicas_in_sync images per step.

        Args:
            strategy: tf.distribute.Strategy.
            lod, **kwargs: as make_dataset.
            global_batch_size: images per step over all replicas (a multiple of the replica count).
        """
        replicas = strategy.num_replicas_in_sync
        if global_batch_size % replicas:
            raise ValueError(f"global_batch_size ({global_batch_size}) must be a multiple of the "
                             f"{replicas} replicas")
        level = self._lod_index(lod)
        if replicas == 1:
            # The plain pipeline: tf.distribute's input wrapper adds tf.data pipelines of its own whose
            # autotuning thread makes deleting their iterator wait (see parallel_batches), and one
            # replica needs no splitting.
            return self.make_dataset(level, global_batch_size, **kwargs)
        hashable = {name: tuple(value) if isinstance(value, list) else value for name, value in kwargs.items()}
        key = ("distributed", id(strategy), level, global_batch_size, tuple(sorted(hashable.items())))
        if key not in self._cache:
            def dataset_fn(input_context):
                return self.make_dataset(level, input_context.get_per_replica_batch_size(global_batch_size),
                                         input_context=input_context, **kwargs)
            # The strategy is kept with the result so that its id cannot be reused by another object.
            self._cache[key] = (strategy, strategy.distribute_datasets_from_function(dataset_fn))
        return self._cache[key][1]
