"""Importable Keras 3 layers of Photo2Cartoon (keras.ops only: TensorFlow, JAX and PyTorch backends)."""

from keras_p2c.layers.attention import CAM
from keras_p2c.layers.blocks import ConvBlock, HourGlass, HourGlassBlock, ResnetBlock, ResnetSoftAdaLINBlock
from keras_p2c.layers.constraints import UnitIntervalClip
from keras_p2c.layers.normalization import LIN, AdaLIN, InstanceNormalization, SoftAdaLIN
from keras_p2c.layers.padding import ReflectionPadding2D
from keras_p2c.layers.spectral import SpectralConv2D, SpectralDense
