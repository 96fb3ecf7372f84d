"""Backbones + torchvision/timm weight import vs an independent PyTorch forward pass.

Each test writes a state dict with random values in the exact key layout of torchvision's (or
timm's) file for the architecture, imports it with ``pretrained.load_into``, and compares our Flax
forward pass with a forward pass of the same tensors written here with ``torch.nn.functional``
(torchvision itself is not needed). Small inputs keep it fast; the layouts are the real ones.
"""

from __future__ import annotations

import collections

import backbone_helpers
import flax
import numpy as np
import pytest

from wsol_jax.models import get_backbone, pretrained

torch = pytest.importorskip("torch", reason="torch is not installed (the reference needs it)")
F = torch.nn.functional

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
TOL = 1e-4


# ----------------------------------------------------------------------------------------------
# Random state dicts in torchvision's key layouts.


class StateDict:
  """Builds an ordered state dict of random tensors, like a module's ``state_dict()``."""

  def __init__(self, seed: int):
    self.rng = np.random.default_rng(seed)
    self.sd = collections.OrderedDict()

  def _put(self, key, array):
    self.sd[key] = torch.from_numpy(np.ascontiguousarray(array, np.float32))

  def conv(self, name, out_ch, in_ch, kh, kw=None, bias=False):
    kw = kh if kw is None else kw
    std = np.sqrt(2.0 / (in_ch * kh * kw))
    self._put(f"{name}.weight", self.rng.standard_normal((out_ch, in_ch, kh, kw), np.float32) * std)
    if bias:
      self._put(f"{name}.bias", self.rng.standard_normal(out_ch, np.float32) * 0.1)

  def bn(self, name, ch, gamma=(0.5, 1.5)):
    self._put(f"{name}.weight", self.rng.uniform(*gamma, ch))
    self._put(f"{name}.bias", self.rng.standard_normal(ch) * 0.1)
    self._put(f"{name}.running_mean", self.rng.standard_normal(ch) * 0.1)
    self._put(f"{name}.running_var", self.rng.uniform(0.5, 1.5, ch))
    self.sd[f"{name}.num_batches_tracked"] = torch.tensor(7)

  def linear(self, name, out_f, in_f):
    std = np.sqrt(1.0 / in_f)
    self._put(f"{name}.weight", self.rng.standard_normal((out_f, in_f), np.float32) * std)
    self._put(f"{name}.bias", self.rng.standard_normal(out_f) * 0.1)


VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_state_dict(seed=0, num_classes=1000):
  s, in_ch = StateDict(seed), 3
  for i, v in enumerate(_vgg_layer_indices()):
    if v is not None:
      s.conv(f"features.{i}", v, in_ch, 3, bias=True)
      in_ch = v
  s.linear("classifier.0", 4096, 512 * 7 * 7)
  s.linear("classifier.3", 4096, 4096)
  s.linear("classifier.6", num_classes, 4096)
  return s.sd


def _vgg_layer_indices():
  """torchvision features[i]: conv width, or None for ReLU / pool."""
  out = []
  for v in VGG_CFG:
    out += [None] if v == "M" else [v, None]
  return out


def resnet50_state_dict(seed=0):
  s = StateDict(seed)
  s.conv("conv1", 64, 3, 7)
  s.bn("bn1", 64)
  inplanes = 64
  for stage, blocks in enumerate((3, 4, 6, 3)):
    planes = 64 * 2**stage
    for b in range(blocks):
      p = f"layer{stage + 1}.{b}"
      s.conv(f"{p}.conv1", planes, inplanes, 1)
      s.bn(f"{p}.bn1", planes)
      s.conv(f"{p}.conv2", planes, planes, 3)
      s.bn(f"{p}.bn2", planes)
      s.conv(f"{p}.conv3", planes * 4, planes, 1)
      s.bn(f"{p}.bn3", planes * 4, gamma=(0.1, 0.3))  # keeps the residual sums O(10)
      if b == 0:
        s.conv(f"{p}.downsample.0", planes * 4, inplanes, 1)
        s.bn(f"{p}.downsample.1", planes * 4)
      inplanes = planes * 4
  s.linear("fc", 1000, 2048)
  return s.sd


def inception_v3_state_dict(seed=0):
  s = StateDict(seed)

  def basic(name, out_ch, in_ch, kh, kw=None):
    s.conv(f"{name}.conv", out_ch, in_ch, kh, kw)
    s.bn(f"{name}.bn", out_ch)

  basic("Conv2d_1a_3x3", 32, 3, 3)
  basic("Conv2d_2a_3x3", 32, 32, 3)
  basic("Conv2d_2b_3x3", 64, 32, 3)
  basic("Conv2d_3b_1x1", 80, 64, 1)
  basic("Conv2d_4a_3x3", 192, 80, 3)
  for name, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
    basic(f"{name}.branch1x1", 64, cin, 1)
    basic(f"{name}.branch5x5_1", 48, cin, 1)
    basic(f"{name}.branch5x5_2", 64, 48, 5)
    basic(f"{name}.branch3x3dbl_1", 64, cin, 1)
    basic(f"{name}.branch3x3dbl_2", 96, 64, 3)
    basic(f"{name}.branch3x3dbl_3", 96, 96, 3)
    basic(f"{name}.branch_pool", pool, cin, 1)
  basic("Mixed_6a.branch3x3", 384, 288, 3)
  basic("Mixed_6a.branch3x3dbl_1", 64, 288, 1)
  basic("Mixed_6a.branch3x3dbl_2", 96, 64, 3)
  basic("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
  for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
    basic(f"{name}.branch1x1", 192, 768, 1)
    basic(f"{name}.branch7x7_1", c7, 768, 1)
    basic(f"{name}.branch7x7_2", c7, c7, 1, 7)
    basic(f"{name}.branch7x7_3", 192, c7, 7, 1)
    basic(f"{name}.branch7x7dbl_1", c7, 768, 1)
    basic(f"{name}.branch7x7dbl_2", c7, c7, 7, 1)
    basic(f"{name}.branch7x7dbl_3", c7, c7, 1, 7)
    basic(f"{name}.branch7x7dbl_4", c7, c7, 7, 1)
    basic(f"{name}.branch7x7dbl_5", 192, c7, 1, 7)
    basic(f"{name}.branch_pool", 192, 768, 1)
  basic("AuxLogits.conv0", 128, 768, 1)  # in the official file; not used by the backbone
  basic("AuxLogits.conv1", 768, 128, 5)
  s.linear("AuxLogits.fc", 1000, 768)
  basic("Mixed_7a.branch3x3_1", 192, 768, 1)
  basic("Mixed_7a.branch3x3_2", 320, 192, 3)
  basic("Mixed_7a.branch7x7x3_1", 192, 768, 1)
  basic("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
  basic("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
  basic("Mixed_7a.branch7x7x3_4", 192, 192, 3)
  for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
    basic(f"{name}.branch1x1", 320, cin, 1)
    basic(f"{name}.branch3x3_1", 384, cin, 1)
    basic(f"{name}.branch3x3_2a", 384, 384, 1, 3)
    basic(f"{name}.branch3x3_2b", 384, 384, 3, 1)
    basic(f"{name}.branch3x3dbl_1", 448, cin, 1)
    basic(f"{name}.branch3x3dbl_2", 384, 448, 3)
    basic(f"{name}.branch3x3dbl_3a", 384, 384, 1, 3)
    basic(f"{name}.branch3x3dbl_3b", 384, 384, 3, 1)
    basic(f"{name}.branch_pool", 192, cin, 1)
  s.linear("fc", 1000, 2048)
  return s.sd


def densenet161_state_dict(seed=0, legacy_names=True):
  """torchvision's densenet161 file; its official .pth uses the legacy 'norm.1' layer names."""
  s = StateDict(seed)
  n = (lambda a, i: f"{a}.{i}") if legacy_names else (lambda a, i: f"{a}{i}")
  s.conv("features.conv0", 96, 3, 7)
  s.bn("features.norm0", 96)
  ch = 96
  for b, layers in enumerate((6, 12, 36, 24)):
    for i in range(layers):
      p = f"features.denseblock{b + 1}.denselayer{i + 1}"
      s.bn(f"{p}.{n('norm', 1)}", ch)
      s.conv(f"{p}.{n('conv', 1)}", 192, ch, 1)
      s.bn(f"{p}.{n('norm', 2)}", 192)
      s.conv(f"{p}.{n('conv', 2)}", 48, 192, 3)
      ch += 48
    if b < 3:
      s.bn(f"features.transition{b + 1}.norm", ch)
      s.conv(f"features.transition{b + 1}.conv", ch // 2, ch, 1)
      ch //= 2
  s.bn("features.norm5", ch)
  s.linear("classifier", 1000, ch)
  return s.sd


# ----------------------------------------------------------------------------------------------
# Independent forward passes with torch.nn.functional (NCHW).


def _bn(x, sd, name, eps):
  return F.batch_norm(x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"],
                      sd[f"{name}.weight"], sd[f"{name}.bias"], False, 0.0, eps)


def _conv(x, sd, name, stride=1, padding=0):
  return F.conv2d(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"), stride, padding)


def _linear(x, sd, name):
  return F.linear(x, sd[f"{name}.weight"], sd[f"{name}.bias"])


def vgg16_torch(sd, x, features_only):
  for i, v in enumerate(_vgg_layer_indices()):
    if i == 30 and features_only:
      return x
    if v is not None:
      x = _conv(x, sd, f"features.{i}", 1, 1)
    elif i in (4, 9, 16, 23, 30):
      x = F.max_pool2d(x, 2, 2)
    else:
      x = F.relu(x)
  x = torch.flatten(F.adaptive_avg_pool2d(x, 7), 1)
  x = F.relu(_linear(x, sd, "classifier.0"))
  x = F.relu(_linear(x, sd, "classifier.3"))
  return _linear(x, sd, "classifier.6")


def resnet50_torch(sd, x, strides, features_only):
  x = F.relu(_bn(_conv(x, sd, "conv1", 2, 3), sd, "bn1", 1e-5))
  x = F.max_pool2d(x, 3, 2, 1)
  for stage, blocks in enumerate((3, 4, 6, 3)):
    for b in range(blocks):
      p, stride = f"layer{stage + 1}.{b}", strides[stage] if b == 0 else 1
      out = F.relu(_bn(_conv(x, sd, f"{p}.conv1"), sd, f"{p}.bn1", 1e-5))
      out = F.relu(_bn(_conv(out, sd, f"{p}.conv2", stride, 1), sd, f"{p}.bn2", 1e-5))
      out = _bn(_conv(out, sd, f"{p}.conv3"), sd, f"{p}.bn3", 1e-5)
      if b == 0:
        x = _bn(_conv(x, sd, f"{p}.downsample.0", stride), sd, f"{p}.downsample.1", 1e-5)
      x = F.relu(out + x)
  if features_only:
    return x
  return _linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), sd, "fc")


def inception_v3_torch(sd, x, features_only):
  def b(x, name, stride=1, padding=0):
    return F.relu(_bn(_conv(x, sd, f"{name}.conv", stride, padding), sd, f"{name}.bn", 1e-3))

  def pool_branch(x, name):
    return b(F.avg_pool2d(x, 3, 1, 1), f"{name}.branch_pool")

  x = b(x, "Conv2d_1a_3x3", 2)
  x = b(x, "Conv2d_2a_3x3")
  x = b(x, "Conv2d_2b_3x3", padding=1)
  x = F.max_pool2d(x, 3, 2)
  x = b(x, "Conv2d_3b_1x1")
  x = b(x, "Conv2d_4a_3x3")
  x = F.max_pool2d(x, 3, 2)
  for m in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
    x = torch.cat([b(x, f"{m}.branch1x1"),
                   b(b(x, f"{m}.branch5x5_1"), f"{m}.branch5x5_2", padding=2),
                   b(b(b(x, f"{m}.branch3x3dbl_1"), f"{m}.branch3x3dbl_2", padding=1),
                     f"{m}.branch3x3dbl_3", padding=1),
                   pool_branch(x, m)], 1)
  m = "Mixed_6a"
  x = torch.cat([b(x, f"{m}.branch3x3", 2),
                 b(b(b(x, f"{m}.branch3x3dbl_1"), f"{m}.branch3x3dbl_2", padding=1),
                   f"{m}.branch3x3dbl_3", 2),
                 F.max_pool2d(x, 3, 2)], 1)
  for m in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
    b7 = b(b(b(x, f"{m}.branch7x7_1"), f"{m}.branch7x7_2", padding=(0, 3)),
           f"{m}.branch7x7_3", padding=(3, 0))
    bd = b(x, f"{m}.branch7x7dbl_1")
    for i, pad in ((2, (3, 0)), (3, (0, 3)), (4, (3, 0)), (5, (0, 3))):
      bd = b(bd, f"{m}.branch7x7dbl_{i}", padding=pad)
    x = torch.cat([b(x, f"{m}.branch1x1"), b7, bd, pool_branch(x, m)], 1)
  if features_only:
    return x
  m = "Mixed_7a"
  b3 = b(b(x, f"{m}.branch3x3_1"), f"{m}.branch3x3_2", 2)
  b7 = b(b(b(b(x, f"{m}.branch7x7x3_1"), f"{m}.branch7x7x3_2", padding=(0, 3)),
           f"{m}.branch7x7x3_3", padding=(3, 0)), f"{m}.branch7x7x3_4", 2)
  x = torch.cat([b3, b7, F.max_pool2d(x, 3, 2)], 1)
  for m in ("Mixed_7b", "Mixed_7c"):
    b3 = b(x, f"{m}.branch3x3_1")
    b3 = torch.cat([b(b3, f"{m}.branch3x3_2a", padding=(0, 1)),
                    b(b3, f"{m}.branch3x3_2b", padding=(1, 0))], 1)
    bd = b(b(x, f"{m}.branch3x3dbl_1"), f"{m}.branch3x3dbl_2", padding=1)
    bd = torch.cat([b(bd, f"{m}.branch3x3dbl_3a", padding=(0, 1)),
                    b(bd, f"{m}.branch3x3dbl_3b", padding=(1, 0))], 1)
    x = torch.cat([b(x, f"{m}.branch1x1"), b3, bd, pool_branch(x, m)], 1)
  return _linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), sd, "fc")


def densenet161_torch(sd, x, features_only):
  """Forward of the legacy-named file (``norm.1`` etc.)."""
  x = F.relu(_bn(_conv(x, sd, "features.conv0", 2, 3), sd, "features.norm0", 1e-5))
  x = F.max_pool2d(x, 3, 2, 1)
  for blk, layers in enumerate((6, 12, 36, 24)):
    for i in range(layers):
      p = f"features.denseblock{blk + 1}.denselayer{i + 1}"
      y = _conv(F.relu(_bn(x, sd, f"{p}.norm.1", 1e-5)), sd, f"{p}.conv.1")
      y = _conv(F.relu(_bn(y, sd, f"{p}.norm.2", 1e-5)), sd, f"{p}.conv.2", 1, 1)
      x = torch.cat([x, y], 1)
    if blk < 3:
      p = f"features.transition{blk + 1}"
      x = F.avg_pool2d(_conv(F.relu(_bn(x, sd, f"{p}.norm", 1e-5)), sd, f"{p}.conv"), 2, 2)
  x = F.relu(_bn(x, sd, "features.norm5", 1e-5))
  if features_only:
    return x
  return _linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), sd, "classifier")


# ----------------------------------------------------------------------------------------------
# Helpers.


def _images(size, seed=1, batch=2):
  return np.random.default_rng(seed).uniform(0, 1, (batch, size, size, 3)).astype(np.float32)


def _torch_input(images, input_norm):
  x = (images - MEAN) / STD if input_norm == "imagenet" else images * 2 - 1
  return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _load(arch, weights_path, images, **kwargs):
  return backbone_helpers.load_file(get_backbone(arch, **kwargs), weights_path, images)


def _apply(arch, variables, images, **kwargs):
  return backbone_helpers.fast_apply(get_backbone(arch, **kwargs), variables, images)


def _assert_close(ours, ref, what):
  ref = ref.detach().numpy()
  if ref.ndim == 4:
    ref = ref.transpose(0, 2, 3, 1)
  assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
  err = float(np.max(np.abs(ours - ref)))
  scale = max(1.0, float(np.max(np.abs(ref))))
  print(f"{what}: max abs error {err:.2e} (max |ref| {scale:.2f})")
  assert err <= TOL * scale, f"{what}: max abs error {err:.3g} > {TOL} x {scale:.3g}"


def _save(sd, path):
  if path.suffix == ".safetensors":
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
  else:
    torch.save(sd, str(path))
  return path


# ----------------------------------------------------------------------------------------------
# The tests.


@pytest.fixture(scope="module")
def vgg16_sd():
  return vgg16_state_dict(seed=0)


def test_vgg16_torchvision_layout(tmp_path, vgg16_sd):
  path = _save(vgg16_sd, tmp_path / "vgg16.pth")
  images = _images(64)
  x = _torch_input(images, "imagenet")
  with torch.no_grad():
    ref_logits, ref_feat = vgg16_torch(vgg16_sd, x, False), vgg16_torch(vgg16_sd, x, True)
  variables, _ = _load("vgg16", path, images, output="logits")
  _assert_close(_apply("vgg16", variables, images, output="logits"), ref_logits,
                "vgg16 logits (fc6 reads the NCHW flatten)")
  _assert_close(_apply("vgg16", variables, images), ref_feat, "vgg16 conv5_3 without pool5")


def test_vgg16_timm_layout(tmp_path, vgg16_sd):
  """timm names VGG's fc layers pre_logits.fc1 (7x7 conv), pre_logits.fc2 (1x1 conv), head.fc."""
  sd = vgg16_sd
  timm_sd = collections.OrderedDict((k, v) for k, v in sd.items() if k.startswith("features."))
  timm_sd["pre_logits.fc1.weight"] = sd["classifier.0.weight"].reshape(4096, 512, 7, 7)
  timm_sd["pre_logits.fc1.bias"] = sd["classifier.0.bias"]
  timm_sd["pre_logits.fc2.weight"] = sd["classifier.3.weight"].reshape(4096, 4096, 1, 1)
  timm_sd["pre_logits.fc2.bias"] = sd["classifier.3.bias"]
  timm_sd["head.fc.weight"] = sd["classifier.6.weight"]
  timm_sd["head.fc.bias"] = sd["classifier.6.bias"]
  path = _save(timm_sd, tmp_path / "model.safetensors")
  images = _images(64, seed=4)
  with torch.no_grad():
    ref = vgg16_torch(sd, _torch_input(images, "imagenet"), False)
  variables, _ = _load("vgg16", path, images, output="logits")
  _assert_close(_apply("vgg16", variables, images, output="logits"), ref, "vgg16 timm logits")


def test_resnet50_torchvision_and_timm_layout(tmp_path):
  """timm's resnet50 files (model.safetensors) use torchvision's key names."""
  sd = resnet50_state_dict(seed=1)
  assert len(sd) == 320  # torchvision resnet50's state dict size
  tv_path = _save(sd, tmp_path / "resnet50.pth")
  timm_path = _save(sd, tmp_path / "model.safetensors")
  images = _images(64, seed=2)
  variables, _ = _load("resnet50", tv_path, images, output="logits")
  timm_converted = pretrained.read_converted(timm_path, "resnet50")
  for key, value in flax.traverse_util.flatten_dict(variables).items():
    np.testing.assert_array_equal(np.asarray(value), timm_converted[key])
  x = _torch_input(images, "imagenet")
  with torch.no_grad():
    ref_logits = resnet50_torch(sd, x, (1, 2, 2, 2), False)
    ref_feat = resnet50_torch(sd, x, (1, 2, 2, 1), True)
  _assert_close(_apply("resnet50", variables, images, output="logits", stage_strides=(1, 2, 2, 2)),
                ref_logits, "resnet50 logits (ImageNet strides)")
  _assert_close(_apply("resnet50", variables, images, stage_strides=(1, 2, 2, 1)), ref_feat,
                "resnet50 layer4 (WSOL strides 1,2,2,1)")


def test_inception_v3_torchvision_layout(tmp_path):
  sd = inception_v3_state_dict(seed=5)
  path = _save(sd, tmp_path / "inception_v3_google.pth")
  images = _images(107, seed=6)
  x = _torch_input(images, "inception")
  with torch.no_grad():
    ref_logits, ref_feat = inception_v3_torch(sd, x, False), inception_v3_torch(sd, x, True)
  variables, report = _load("inception_v3", path, images, output="logits")
  assert not any("AuxLogits" in k for k in report.skipped)  # dropped before matching
  _assert_close(_apply("inception_v3", variables, images, output="logits"), ref_logits,
                "inception_v3 logits")
  _assert_close(_apply("inception_v3", variables, images), ref_feat, "inception_v3 Mixed_6e")


def test_densenet161_torchvision_layout(tmp_path):
  sd = densenet161_state_dict(seed=7, legacy_names=True)
  path = _save(sd, tmp_path / "densenet161.pth")
  images = _images(32, seed=8, batch=1)
  with torch.no_grad():
    ref = densenet161_torch(sd, _torch_input(images, "imagenet"), False)
  variables, _ = _load("densenet161", path, images, output="logits")
  _assert_close(_apply("densenet161", variables, images, output="logits"), ref,
                "densenet161 logits (legacy norm.1 names)")
