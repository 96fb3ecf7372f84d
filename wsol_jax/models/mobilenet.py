"""MobileNetV1 laid out as Keras applications' ``MobileNet`` (width 0.5 / 0.75 / 1.0).

Submodules carry the Keras layer names, so ``mobilenet_{5_0,7_5,1_0}_224_tf.h5`` maps one-to-one:
``conv1`` + ``conv1_bn``; 13 blocks of ``conv_dw_{i}`` (depthwise 3x3) + ``conv_dw_{i}_bn`` and
``conv_pw_{i}`` (1x1) + ``conv_pw_{i}_bn``, each followed by ReLU6; the head ``conv_preds`` (1x1
conv with bias on the pooled vector). No conv biases; batch norm epsilon 1e-3 (Keras's default).
Strided convs use TensorFlow's 'SAME' padding (more padding right/bottom for even inputs), which
Flax's 'SAME' reproduces exactly.

Outputs: ``'features'`` = conv_pw_13 + ReLU6 [B, H/32, W/32, 1024*width] (``last_stride=1`` makes
block 12 stride 1: H/16, a finer CAM); ``'pre_logits'`` = its global average; ``'logits'`` =
``conv_preds`` [B, num_classes] (the Keras file has 1000 classes in the sorted-wnid order of
``imagenet_synsets.txt``). Input scaling ``x_uint8 / 127.5 - 1`` (``input_norm='inception'``).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from wsol_jax.models import blocks
from wsol_jax.models.registry import register_backbone

_BN_EPS = 1e-3
# (pointwise filters at width 1.0, depthwise stride) of blocks 1..13.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
           (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
WIDTHS = (0.25, 0.5, 0.75, 1.0)
# The outputs ``block_hook`` sees: each block's pointwise conv + BN + ReLU6, ``conv_pw_{i}``.
BLOCK_NAMES = tuple(f"conv_pw_{i}" for i in range(1, len(_BLOCKS) + 1))


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TensorFlow's 'SAME' padding of one axis: the odd pixel goes after (right/bottom)."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


class DepthwiseConv(nn.Module):
  """Depthwise ``kernel_size`` conv, 'SAME' padding, no bias; kernel (k, k, 1, C) like ``nn.Conv``.

  ``impl='shifted'`` sums k*k shifted, per-channel-scaled copies of the input: the same numbers as
  the grouped convolution, but several times faster on XLA:CPU, whose grouped convolutions are
  slow. ``'auto'`` picks it on CPU and the native grouped convolution elsewhere.
  """

  kernel_size: int = 3
  stride: int = 1
  impl: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, s, channels = self.kernel_size, self.stride, x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, 1, channels),
                        jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    impl = self.impl
    if impl == "auto":
      impl = "shifted" if jax.default_backend() == "cpu" else "conv"
    if impl == "conv":
      return jax.lax.conv_general_dilated(x, kernel, (s, s), "SAME",
                                          dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                          feature_group_count=channels)
    if impl != "shifted":
      raise ValueError(f"depthwise impl must be 'auto', 'conv' or 'shifted', got {impl!r}")
    (top, bottom), (left, right) = (tf_same_pads(n, k, s) for n in x.shape[1:3])
    out_h, out_w = -(-x.shape[1] // s), -(-x.shape[2] // s)
    x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = 0
    for i in range(k):
      for j in range(k):
        window = x[:, i:i + (out_h - 1) * s + 1:s, j:j + (out_w - 1) * s + 1:s, :]
        out = out + window * kernel[i, j, 0]
    return out


@register_backbone("mobilenet_v1")
class MobileNetV1(blocks.BatchNormBackbone):
  """MobileNetV1. ``__call__(x [B,H,W,3] in [0,1], train) -> see module docstring``."""

  input_norm: str = "inception"  # x_uint8 / 127.5 - 1
  # bn_momentum: 0.9 (BatchNormBackbone's, PyTorch's 0.1), not Keras's 0.99: after a fine-tune of
  # ~100 steps (a CUB stage on a CPU) 0.99 leaves 0.99**100 = 37 % of the running statistics at
  # ImageNet's, and a network fine-tuned away from them then fails in inference mode (SLT-Net's
  # localizer classified cub25 at 3.5 % with them, 50 % with batch statistics).
  width: float = 1.0
  last_stride: int = 2
  dropout_rate: float = 1e-3  # Keras's default before conv_preds
  depthwise_impl: str = "auto"

  @nn.compact
  def __call__(self, x, train: bool = False):
    x, dtype = self.prepare(x)
    if self.width not in WIDTHS:
      raise ValueError(f"mobilenet_v1: width must be one of {WIDTHS}, got {self.width!r}")
    if self.last_stride not in (1, 2):
      raise ValueError(f"mobilenet_v1: last_stride must be 1 or 2, got {self.last_stride!r}")
    norm = self.norm(train, _BN_EPS)

    def conv_bn(x, name, features, kernel, stride=1, depthwise=False):
      if depthwise:
        x = DepthwiseConv(kernel, stride, self.depthwise_impl, dtype, name=name)(x)
      else:
        x = nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding="SAME",
                    use_bias=False, dtype=dtype, param_dtype=jnp.float32, name=name)(x)
      x = norm(name=f"{name}_bn")(x)
      return nn.relu6(x)

    x = conv_bn(x, "conv1", int(32 * self.width), 3, 2)
    for i, (filters, stride) in enumerate(_BLOCKS, start=1):
      if i == 12:
        stride = self.last_stride
      x = conv_bn(x, f"conv_dw_{i}", x.shape[-1], 3, stride, depthwise=True)
      x = conv_bn(x, f"conv_pw_{i}", int(filters * self.width), 1)
      x = self.after_block(f"conv_pw_{i}", x, train)
    if self.output == "features":
      return x
    x = blocks.global_avg_pool(x)
    if self.output == "pre_logits":
      return x
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.Conv(self.num_classes, (1, 1), dtype=dtype, param_dtype=jnp.float32,
                name="conv_preds")(x[:, None, None, :])
    return x[:, 0, 0, :]


@register_backbone("mobilenet_v1_050")
class MobileNetV1W050(MobileNetV1):
  width: float = 0.5


@register_backbone("mobilenet_v1_075")
class MobileNetV1W075(MobileNetV1):
  width: float = 0.75


@register_backbone("mobilenet_v1_100")
class MobileNetV1W100(MobileNetV1):
  width: float = 1.0
