"""StyleGAN (Karras et al. 2019) in TensorFlow 2 / Keras 3, faithful to the original NVIDIA release."""

__version__ = "0.1.0"
