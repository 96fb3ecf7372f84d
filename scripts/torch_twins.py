"""PyTorch twins of the CAM localizers, for ``scripts/benchmark_step.py --vs_torch``.

A twin has the architecture of ``wsol_jax``'s :class:`~wsol_jax.models.heads.Localizer` for a CAM
config (same layers, padding, BatchNorm epsilon/momentum, parameter count), and its train step does
what the JAX step does: uint8 NHWC images -> float in [0, 1] -> the backbone's input scaling,
cross-entropy, SGD with momentum, L2 weight decay added to the gradient and per-group learning rates
(backbone / head). Eager PyTorch, ``channels_last`` (NHWC in memory, like XLA's). Backbones:
``vgg16`` and ``mobilenet_v1_{050,075,100}``.

torch is imported lazily (:func:`torch_module`): it is a benchmark and test dependency only.
"""

from __future__ import annotations

import importlib
from typing import Any

from wsol_jax.models import blocks, mobilenet, vgg

TWIN_BACKBONES = ("vgg16", "mobilenet_v1_050", "mobilenet_v1_075", "mobilenet_v1_100")


def torch_module():
  """``torch``, or an ImportError saying that only this benchmark needs it."""
  try:
    return importlib.import_module("torch")
  except ImportError as e:
    raise ImportError("--vs_torch needs PyTorch (pip install torch); wsol_jax itself does not")\
        from e


def _layers(torch):
  """The twin's backbone builders and localizer class, made once torch is imported."""
  nn, F = torch.nn, torch.nn.functional

  class TFSameConv(nn.Conv2d):
    """``Conv2d`` with TensorFlow's 'SAME' padding (the odd pixel after), as Flax's 'SAME'."""

    def forward(self, x):
      (top, bottom), (left, right) = (mobilenet.tf_same_pads(n, self.kernel_size[0],
                                                             self.stride[0]) for n in x.shape[2:])
      if top == bottom and left == right:
        return F.conv2d(x, self.weight, None, self.stride, (top, left), 1, self.groups)
      return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, None, self.stride, 0, 1,
                      self.groups)

  class Features(nn.Module):
    """A backbone twin: ``features`` (``nn.Sequential`` of ``layers``), ``out_channels`` wide."""

    def __init__(self, layers, out_channels: int):
      super().__init__()
      self.features = nn.Sequential(*layers)
      self.out_channels = out_channels

    def forward(self, x):
      return self.features(x)

  def mobilenet_v1(width: float, last_stride: int) -> Features:
    """wsol_jax.models.mobilenet.MobileNetV1's 'features' output: [B, C, H/16 or H/32, ...]."""
    layers, channels = [], int(32 * width)

    def conv_bn(in_ch, out_ch, kernel, stride, groups=1):
      # BatchNorm: Flax momentum 0.9 = PyTorch 0.1; Keras's epsilon 1e-3.
      return [TFSameConv(in_ch, out_ch, kernel, stride, groups=groups, bias=False),
              nn.BatchNorm2d(out_ch, eps=mobilenet._BN_EPS, momentum=0.1), nn.ReLU6()]

    layers += conv_bn(3, channels, 3, 2)
    for i, (filters, stride) in enumerate(mobilenet._BLOCKS, start=1):
      stride = last_stride if i == 12 else stride
      out = int(filters * width)
      layers += conv_bn(channels, channels, 3, stride, groups=channels)
      layers += conv_bn(channels, out, 1, 1)
      channels = out
    return Features(layers, channels)

  def vgg16() -> Features:
    """torchvision's vgg16 features without pool5 (wsol_jax.models.vgg.VGG16's 'features')."""
    layers, in_ch = [], 3
    for width in vgg._CFG_D[:-1]:  # no pool5
      if width == "M":
        layers.append(nn.MaxPool2d(2, 2))
      else:
        layers += [nn.Conv2d(in_ch, width, 3, 1, 1), nn.ReLU(inplace=True)]
        in_ch = width
    return Features(layers, in_ch)

  class Localizer(nn.Module):
    """Backbone + CAM head (conv 3x3/``head_channels`` + ReLU if > 0, GAP, FC) -> logits."""

    def __init__(self, backbone, num_classes: int, head_channels: int, input_norm: str):
      super().__init__()
      self.backbone = backbone
      channels = backbone.out_channels
      self.head_conv = None
      if head_channels:
        self.head_conv = nn.Conv2d(channels, head_channels, 3, 1, 1)
        channels = head_channels
      self.fc = nn.Linear(channels, num_classes)
      self.input_norm = input_norm
      mean = torch.tensor(blocks.IMAGENET_MEAN_RGB).view(1, 3, 1, 1)
      std = torch.tensor(blocks.IMAGENET_STD_RGB).view(1, 3, 1, 1)
      self.register_buffer("mean", mean, persistent=False)
      self.register_buffer("std", std, persistent=False)

    def forward(self, images_uint8_nhwc):
      # NHWC uint8 -> an NCHW view with channels_last strides, float in [0, 1], then scaled.
      x = images_uint8_nhwc.permute(0, 3, 1, 2).float() / 255.0
      if self.input_norm == "imagenet":
        x = (x - self.mean) / self.std
      elif self.input_norm == "inception":
        x = x * 2.0 - 1.0
      x = self.backbone(x)
      if self.head_conv is not None:
        x = F.relu(self.head_conv(x))
      return self.fc(x.mean(dim=(2, 3)))

  return mobilenet_v1, vgg16, Localizer


def localizer_twin(config, num_classes: int):
  """The PyTorch twin (train mode, channels_last) of ``config``'s CAM localizer."""
  torch = torch_module()
  make_mobilenet, make_vgg16, localizer_cls = _layers(torch)
  name, kwargs = config.model.backbone, dict(config.model.backbone_kwargs)
  if name == "vgg16":
    if kwargs.get("large_feature_map"):
      raise ValueError("torch twin: vgg16 large_feature_map is not twinned")
    backbone, input_norm = make_vgg16(), kwargs.get("input_norm", "imagenet")
  elif name.startswith("mobilenet_v1_"):
    width = {"050": 0.5, "075": 0.75, "100": 1.0}[name.rsplit("_", 1)[1]]
    backbone = make_mobilenet(width, int(kwargs.get("last_stride", 2)))
    input_norm = kwargs.get("input_norm", "inception")
  else:
    raise ValueError(f"torch twin: backbone {name!r} is not one of {TWIN_BACKBONES}")
  if config.model.dtype != "float32":
    raise ValueError("torch twin: float32 only (XLA:CPU and eager CPU PyTorch have no fast bf16)")
  model = localizer_cls(backbone, num_classes, config.model.head_channels, input_norm)
  return model.to(memory_format=torch.channels_last).train()


def sgd_twin(model, train) -> Any:
  """``torch.optim.SGD`` of ``config.train`` (lr groups 'backbone' and 'head', L2 weight decay
  in the gradient, momentum, nesterov): the JAX optimizer's first step of a constant schedule."""
  torch = torch_module()
  if train.optimizer != "sgd" or train.weight_decay_mode != "l2" or train.grad_clip_norm > 0:
    raise ValueError("torch twin: SGD with L2 weight decay and no clipping only")
  head = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
  backbone = list(model.backbone.parameters())
  groups = [{"params": backbone, "lr": train.lr * train.lr_mults["backbone"]},
            {"params": head, "lr": train.lr * train.lr_mults["head"]}]
  return torch.optim.SGD(groups, lr=train.lr, momentum=train.momentum,
                         weight_decay=train.weight_decay, nesterov=train.nesterov)


def parameter_count(model) -> int:
  """Trainable parameters (Flax's ``params``: BatchNorm scale/bias counted, statistics not)."""
  return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_train_step(model, optimizer):
  """``step(images uint8 [B,H,W,3] tensor, labels int64 [B]) -> loss float``: forward, CE,
  backward, SGD update (BatchNorm statistics update in the forward, as in the JAX step)."""
  torch = torch_module()

  def step(images, labels):
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return float(loss.detach())

  return step
