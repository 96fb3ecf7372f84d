"""Layers the ImageNet backbones share: input scaling, PyTorch-style convs, batch norm, pooling.

Every backbone here takes float RGB images in [0, 1], NHWC, and scales them the way its pretrained
weights were trained (``input_norm``):

* ``'imagenet'``  -- ``(x - mean) / std`` with the ImageNet RGB statistics (torchvision VGG, ResNet,
  DenseNet; timm ResNet).
* ``'inception'`` -- ``2 x - 1``, i.e. ``x_uint8 / 127.5 - 1`` (Google's InceptionV3 weights, which
  torchvision reaches through ``transform_input=True``; Keras MobileNet).
* ``'none'``      -- the caller already scaled the images.

Mixed precision: convs and dense layers compute in the backbone's ``dtype`` (e.g. bfloat16); params
and batch statistics are float32, and batch norm reduces its statistics in float32.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
INPUT_NORMS = ("imagenet", "inception", "none")


def normalize_input(images, input_norm: str):
  """[B, H, W, 3] float RGB in [0, 1] -> the network's input scaling (see module docstring)."""
  if input_norm == "imagenet":
    mean = jnp.asarray(IMAGENET_MEAN_RGB, jnp.float32)
    std = jnp.asarray(IMAGENET_STD_RGB, jnp.float32)
    return (images - mean) / std
  if input_norm == "inception":
    return images * 2.0 - 1.0
  if input_norm == "none":
    return images
  raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {input_norm!r}")


OUTPUTS = ("features", "pre_logits", "logits")


class ImagenetBackbone(nn.Module):
  """The fields and steps the ImageNet backbones share (each adds its own fields).

  output: ``'features'`` (the map the WSOL heads read), ``'pre_logits'`` (the vector before the
    ImageNet classifier) or ``'logits'`` (that classifier, ``num_classes`` outputs).
  input_norm: the input scaling of its weights (:func:`normalize_input`).
  dtype: compute dtype, e.g. ``'bfloat16'``; parameters stay float32.
  block_hook: None, or a hashable callable ``(block_name, x, train) -> x`` applied to the output of
    each named block (the names: each backbone's ``BLOCK_NAMES``), inside the backbone's scope:
    a method inserts layers (ADL) or taps maps (SPG) there. Modules it creates are the backbone's
    submodules; parameter-free ones leave the pretrained weight layout as it is.
  """

  output: str = "features"
  num_classes: int = 1000
  input_norm: str = "imagenet"
  dtype: Any = jnp.float32
  block_hook: Any = None

  def after_block(self, name: str, x, train: bool):
    """``block_hook(name, x, train)``, or ``x`` without a hook. Call from ``__call__``."""
    return x if self.block_hook is None else self.block_hook(name, x, train)

  def prepare(self, images):
    """Check the options and scale the images: -> (x, compute dtype)."""
    if self.output not in OUTPUTS:
      raise ValueError(f"{type(self).__name__}: output must be one of {OUTPUTS}, "
                       f"got {self.output!r}")
    return normalize_input(images, self.input_norm), canonical_dtype(self.dtype)

  def classify(self, x, train: bool, *, head: str, dropout_rate: float = 0.0):
    """Feature map -> global average (-> dropout): 'pre_logits'; then the Dense ``head``: 'logits'.

    Call from the subclass's ``nn.compact`` ``__call__``.
    """
    x = global_avg_pool(x)
    if dropout_rate:
      x = nn.Dropout(dropout_rate, deterministic=not train)(x)
    if self.output == "pre_logits":
      return x
    return nn.Dense(self.num_classes, dtype=canonical_dtype(self.dtype), param_dtype=jnp.float32,
                    name=head)(x)


class BatchNormBackbone(ImagenetBackbone):
  """An :class:`ImagenetBackbone` with batch norm.

  bn_momentum: Flax's momentum of the running statistics (PyTorch's 0.1 -> 0.9).
  bn_axis_name: ``pmap`` axis to average batch statistics over (None under ``jit``).
  """

  bn_momentum: float = 0.9
  bn_axis_name: str | None = None

  def norm(self, train: bool, epsilon: float):
    """The ``nn.BatchNorm`` constructor for this backbone (:func:`norm_layer`)."""
    return norm_layer(train, epsilon=epsilon, momentum=self.bn_momentum,
                      dtype=canonical_dtype(self.dtype), axis_name=self.bn_axis_name)


def torch_conv(features: int, kernel, stride=1, padding=0, *, use_bias: bool, dtype: Any,
               name: str, groups: int = 1) -> nn.Conv:
  """``nn.Conv`` with PyTorch's symmetric integer padding (an int or a (pad_h, pad_w) pair)."""
  kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
  stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
  pad_h, pad_w = (padding, padding) if isinstance(padding, int) else padding
  return nn.Conv(features, kernel, strides=stride, padding=((pad_h, pad_h), (pad_w, pad_w)),
                 use_bias=use_bias, feature_group_count=groups, dtype=dtype,
                 param_dtype=jnp.float32, name=name)


def norm_layer(train: bool, *, epsilon: float, momentum: float, dtype: Any,
               axis_name: str | None = None):
  """``nn.BatchNorm`` constructor (call it with ``name=``): float32 params and statistics.

  ``momentum`` is Flax's (PyTorch's 0.1 -> 0.9); ``axis_name`` averages the batch statistics over a
  ``pmap`` axis (None under ``jit``, where the batch is already global).
  """
  return functools.partial(nn.BatchNorm, use_running_average=not train, momentum=momentum,
                           epsilon=epsilon, dtype=dtype, param_dtype=jnp.float32,
                           axis_name=axis_name)


def max_pool_torch(x, window: int, stride: int, padding: int = 0, ceil_mode: bool = False):
  """``nn.MaxPool2d(window, stride, padding, ceil_mode)`` on NHWC (padding never wins the max)."""
  pads = []
  for size in x.shape[1:3]:
    pad_after = padding
    if ceil_mode:
      out = -(-(size + 2 * padding - window) // stride) + 1
      # PyTorch drops a last window that would start inside the right padding.
      if (out - 1) * stride >= size + padding:
        out -= 1
      pad_after = max((out - 1) * stride + window - size - padding, padding)
    pads.append((padding, pad_after))
  return nn.max_pool(x, (window, window), strides=(stride, stride), padding=pads)


def avg_pool_torch(x, window: int, stride: int, padding: int = 0, count_include_pad: bool = True):
  """``F.avg_pool2d(x, window, stride, padding, count_include_pad=...)``: by default padding
  counts in the mean (PyTorch's default); False averages the image cells only (TF's 'SAME')."""
  return nn.avg_pool(x, (window, window), strides=(stride, stride),
                     padding=((padding, padding), (padding, padding)),
                     count_include_pad=count_include_pad)


def adaptive_avg_pool(x, out_hw: tuple[int, int]):
  """``nn.AdaptiveAvgPool2d(out_hw)`` on NHWC: bin i covers [floor(i*H/o), ceil((i+1)*H/o))."""
  height, width = x.shape[1:3]
  if (height, width) == tuple(out_hw):
    return x

  def bins(size, out):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]

  rows = [jnp.mean(x[:, a:b], axis=1) for a, b in bins(height, out_hw[0])]
  x = jnp.stack(rows, axis=1)
  cols = [jnp.mean(x[:, :, a:b], axis=2) for a, b in bins(width, out_hw[1])]
  return jnp.stack(cols, axis=2)


def global_avg_pool(x):
  """[B, H, W, C] -> [B, C], averaged in float32."""
  return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


def canonical_dtype(dtype) -> np.dtype:
  """'bfloat16' / jnp.bfloat16 / np.float32 -> a NumPy dtype; a one-line error otherwise."""
  try:
    return jnp.dtype(dtype)
  except TypeError as e:
    raise ValueError(f"unknown dtype {dtype!r} (use 'float32' or 'bfloat16')") from e

