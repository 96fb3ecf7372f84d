"""ImageNet weights from torchvision, timm and Keras files into a backbone's Flax variables.

One call puts pretrained weights into every copy of a backbone inside a model's variables::

    variables = model.init(rng, images, train=False)
    variables, report = pretrained.load_into(variables, "torchvision:vgg16", "vgg16")

Sources (``model.pretrained``): a file path or a name of :mod:`wsol_jax.models.weight_sources`.
Formats, by extension:

* ``.pth`` / ``.pt`` / ``.bin`` -- a PyTorch state dict (needs the optional ``torch``:
  ``pip install -e '.[torch]'``); ``.safetensors`` -- the same keys without torch. torchvision and
  timm key layouts are both understood (timm's VGG names its fc layers ``pre_logits.fc1/fc2`` and
  ``head.fc`` as convs; old torchvision DenseNet files name layers ``norm.1``); ``module.``
  prefixes and ``{"state_dict": ...}`` wrappers are removed.
  Google's 2015 FID InceptionV3 (``net.layers.<TF layer>.{weight,beta,mean,var}``) is recognised
  by its keys and renamed to torchvision's (:mod:`wsol_jax.models.inception_fid`).
* ``.h5`` -- Keras HDF5 weights (``layer_names`` / ``weight_names`` attributes; MobileNet).
* ``.msgpack`` -- variables already in this package's layout (``scripts/convert_weights.py``).

Layout changes: conv kernels OIHW -> HWIO (depthwise too: PyTorch (C,1,kh,kw) -> (kh,kw,1,C);
Keras (kh,kw,C,1) -> (kh,kw,1,C)); linear weights transposed; conv-shaped fc weights (timm VGG)
flattened to dense kernels in NHWC order; torchvision's VGG fc6 (which reads an NCHW flatten) is
first reshaped to (4096, 512, 7, 7) so its rows follow our NHWC flatten; batch norm
``weight``/``gamma`` -> ``scale``, ``running_mean``/``moving_mean`` -> ``batch_stats/mean`` and
likewise the variance. Epsilons and padding rules live in the backbone definitions (1e-5
torchvision, 1e-3 Inception and Keras; TF 'SAME' for Keras), so they match the files.

Checks: every backbone tensor must come from the file with the right shape (else a one-line error
listing the first few keys); file tensors that the architecture does not have are an error; tensors
of layers the backbone does not build (beyond its cut, e.g. Mixed_7* for Inception's Mixed_6e map,
or the ImageNet classifier) are skipped; an ImageNet classifier of another class count is left as
initialised. The report says what happened.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import pathlib
import re
from typing import Any, Mapping, Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np

from wsol_jax.models import inception_fid, weight_sources
from wsol_jax.models.densenet import DenseNet161
from wsol_jax.models.inception import InceptionV3
from wsol_jax.models.mobilenet import MobileNetV1
from wsol_jax.models.registry import get_backbone
from wsol_jax.models.resnet import ResNet50
from wsol_jax.models.vgg import VGG16

Key = tuple[str, ...]  # (collection, module, ..., leaf): ('params', 'layer1_0', 'conv1', 'kernel')

# Backbone class -> (registry name of its full form, the ImageNet classifier's module name).
_FAMILIES = {
    VGG16: ("vgg16", "classifier_6"),
    InceptionV3: ("inception_v3", "fc"),
    ResNet50: ("resnet50", "fc"),
    DenseNet161: ("densenet161", "classifier"),
    MobileNetV1: ("mobilenet_v1", "conv_preds"),
}
# The first layer of each family: every cut of the backbone has it (finds backbones in a model).
_STEMS = {"vgg16": "features_0", "inception_v3": "Conv2d_1a_3x3", "resnet50": "conv1",
          "densenet161": "conv0", "mobilenet_v1": "conv1"}
# Per family: (regex, replacement) applied to PyTorch keys before the generic mapping.
_TORCH_RENAMES = {
    "vgg16": ((r"^pre_logits\.fc1\.", "classifier.0."), (r"^pre_logits\.fc2\.", "classifier.3."),
              (r"^head\.fc\.", "classifier.6.")),
    "densenet161": ((r"^features\.", ""),
                    (r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.", r"\1\2.")),
    "inception_v3": (),
    "resnet50": (),
}
_TORCH_IGNORED = {"inception_v3": re.compile(r"^AuxLogits\.")}
# torchvision's VGG fc6 reads the NCHW flatten of pool5 (512 x 7 x 7).
_VGG_FC6 = "classifier.0.weight"


@dataclasses.dataclass
class LoadReport:
  """What :func:`load_into` did."""

  source: str
  paths: list[Key]  # where in the variables the backbone was found and filled
  loaded: int  # tensors copied per path
  skipped: list[str]  # file tensors of layers the backbone does not build
  reinitialised: list[str]  # classifier tensors of another class count, left as initialised
  random: list[str] = dataclasses.field(default_factory=list)  # layers allowed to stay random

  def summary(self) -> str:
    where = ", ".join("/".join(p) or "<root>" for p in self.paths)
    text = f"pretrained {self.source}: {self.loaded} tensors into {where}"
    if self.skipped:
      text += f"; {len(self.skipped)} file tensors beyond the backbone's cut skipped"
    if self.reinitialised:
      text += f"; classifier left as initialised ({', '.join(self.reinitialised)})"
    if self.random:
      text += f"; not in the file, left random as allowed: {', '.join(self.random)}"
    return text


# ----------------------------------------------------------------------------------------------
# Which architecture.


def family_of(backbone) -> tuple[str, str]:
  """A backbone module or registry name -> (family name, classifier module name)."""
  module = get_backbone(backbone) if isinstance(backbone, str) else backbone
  for cls, family in _FAMILIES.items():
    if isinstance(module, cls):
      return family
  raise ValueError(f"no pretrained weight import for backbone {type(module).__name__}; supported: "
                   f"{', '.join(f for f, _ in _FAMILIES.values())}")


def default_source(backbone, width: float | None = None) -> str:
  """The weights ``model.pretrained = 'imagenet'`` means for this backbone (MobileNet: at
  ``width``, else the module's)."""
  module = get_backbone(backbone) if isinstance(backbone, str) else backbone
  family, _ = family_of(module)
  if family == "mobilenet_v1":
    return f"keras:mobilenet_v1_{round((width or module.width) * 100):03d}"
  return f"torchvision:{family}"


def _mobilenet_width(flat_variables) -> float | None:
  """The width of the MobileNet(s) in the variables, from conv1's kernel (3, 3, 3, 32 * width)."""
  widths = {v.shape[-1] / 32 for k, v in flat_variables.items()
            if k[0] == "params" and k[-2:] == ("conv1", "kernel") and np.shape(v)[:3] == (3, 3, 3)}
  return widths.pop() if len(widths) == 1 else None


@functools.lru_cache(maxsize=None)
def _full_keys(family: str) -> frozenset[Key]:
  """Every variable key of the family's full ImageNet classifier (shapes not needed)."""
  model = get_backbone(family, output="logits")
  images = jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
  shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), images)
  return frozenset(flax.traverse_util.flatten_dict(flax.core.unfreeze(shapes)))


# ----------------------------------------------------------------------------------------------
# Reading files into flat {key: array} dicts.


class MissingPackageError(ImportError, ValueError):
  """A package that a configured step needs is not installed (also a ValueError, which the command
  line prints as one line)."""


TORCH_SUFFIXES = (".pth", ".pt", ".bin")


def require_torch(path: pathlib.Path, source: str = "model.pretrained") -> None:
  """A one-line :class:`MissingPackageError` when ``path`` is a PyTorch file (torch is an optional
  extra) and torch is not installed."""
  if (pathlib.Path(path).suffix.lower() in TORCH_SUFFIXES
      and importlib.util.find_spec("torch") is None):
    raise MissingPackageError(f"{source} needs torch to read {path}: pip install -e '.[torch]' (or "
                              f"use a 'timm:<id>' safetensors source)")


def read_state_dict(path: pathlib.Path) -> dict[str, np.ndarray]:
  """A PyTorch state dict (``.pth``/``.pt``/``.bin`` with torch, ``.safetensors`` without)."""
  if path.suffix == ".safetensors":
    from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
    state = load_file(str(path))
  else:
    require_torch(path)
    import torch  # pylint: disable=import-outside-toplevel
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
      if isinstance(state, Mapping) and wrapper in state and isinstance(state[wrapper], Mapping):
        state = state[wrapper]
    state = {k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()
             if hasattr(v, "numpy")}
  return {re.sub(r"^module\.", "", k): np.asarray(v) for k, v in state.items()}


def read_keras_h5(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Keras HDF5 weights -> {'layer/param': array} (``conv_dw_1/depthwise_kernel``)."""
  import h5py  # pylint: disable=import-outside-toplevel
  out = {}
  with h5py.File(path, "r") as f:
    root = f["model_weights"] if "model_weights" in f else f
    if "layer_names" not in root.attrs:
      raise ValueError(f"{path} is not a Keras weights file (no 'layer_names' attribute)")
    for layer in root.attrs["layer_names"]:
      layer = layer.decode() if isinstance(layer, bytes) else str(layer)
      group = root[layer]
      for weight in group.attrs.get("weight_names", []):
        weight = weight.decode() if isinstance(weight, bytes) else str(weight)
        param = weight.split("/")[-1].split(":")[0]
        out[f"{layer}/{param}"] = np.asarray(group[weight])
  return out


# ----------------------------------------------------------------------------------------------
# Converting to Flax keys and layouts.


def _torch_to_flax(key: str, value: np.ndarray) -> tuple[Key, np.ndarray] | None:
  """``layer1.0.conv1.weight`` -> ('params', 'layer1_0', 'conv1', 'kernel'); None to drop."""
  *modules, leaf = key.split(".")
  path: list[str] = []
  for m in modules:
    if m.isdigit() and path:
      path[-1] += f"_{m}"
    else:
      path.append(m)
  if leaf == "num_batches_tracked":
    return None
  if leaf == "running_mean":
    return ("batch_stats", *path, "mean"), value
  if leaf == "running_var":
    return ("batch_stats", *path, "var"), value
  if leaf == "bias":
    return ("params", *path, "bias"), value
  if leaf == "weight" and value.ndim == 1:
    return ("params", *path, "scale"), value
  if leaf == "weight" and value.ndim == 4:  # OIHW -> HWIO (depthwise (C,1,kh,kw) -> (kh,kw,1,C))
    return ("params", *path, "kernel"), value.transpose(2, 3, 1, 0)
  if leaf == "weight" and value.ndim == 2:
    return ("params", *path, "kernel"), value.T
  raise ValueError(f"cannot map state-dict key {key!r} with shape {value.shape}")


def convert_torch(state: Mapping[str, np.ndarray], family: str) -> dict[Key, np.ndarray]:
  """A torchvision/timm state dict -> {flax key: array in Flax layout}."""
  if family not in _TORCH_RENAMES:
    raise ValueError(f"no PyTorch layout known for {family}; use its Keras .h5 file")
  ignored = _TORCH_IGNORED.get(family)
  out = {}
  for key, value in state.items():
    if ignored is not None and ignored.search(key):
      continue
    for pattern, repl in _TORCH_RENAMES[family]:
      key = re.sub(pattern, repl, key)
    if family == "vgg16" and key == _VGG_FC6 and value.ndim == 2:
      value = value.reshape(value.shape[0], 512, 7, 7)
    mapped = _torch_to_flax(key, np.asarray(value, np.float32))
    if mapped is not None:
      out[mapped[0]] = mapped[1]
  return out


_KERAS_LEAVES = {"kernel": ("params", "kernel"), "depthwise_kernel": ("params", "kernel"),
                 "bias": ("params", "bias"), "gamma": ("params", "scale"),
                 "beta": ("params", "bias"), "moving_mean": ("batch_stats", "mean"),
                 "moving_variance": ("batch_stats", "var")}


def convert_keras(weights: Mapping[str, np.ndarray]) -> dict[Key, np.ndarray]:
  """Keras {'layer/param': array} -> {flax key: array} (depthwise (kh,kw,C,1) -> (kh,kw,1,C))."""
  out = {}
  for name, value in weights.items():
    layer, param = name.split("/")
    if param not in _KERAS_LEAVES:
      raise ValueError(f"cannot map Keras weight {name!r} with shape {value.shape}")
    collection, leaf = _KERAS_LEAVES[param]
    if param == "depthwise_kernel":
      value = value.transpose(0, 1, 3, 2)
    out[(collection, layer, leaf)] = np.asarray(value, np.float32)
  return out


def read_converted(path: pathlib.Path, family: str, backbone=None) -> dict[Key, np.ndarray]:
  """Any supported file -> {flax key: array} in this package's layout (``backbone``: the module or
  name being filled, for the one-line note on the FID InceptionV3's pooling option)."""
  suffix = path.suffix.lower()
  if suffix == ".h5":
    return convert_keras(read_keras_h5(path))
  if suffix == ".msgpack":
    tree = flax.serialization.msgpack_restore(path.read_bytes())
    return {k: np.asarray(v) for k, v in flax.traverse_util.flatten_dict(tree).items()}
  if suffix in (".pth", ".pt", ".bin", ".safetensors"):
    state = read_state_dict(path)
    if family == "inception_v3" and inception_fid.is_fid_tf2015(state):
      state = inception_fid.to_torchvision_state(state, path.name)
      note = inception_fid.pooling_note(backbone, path.name)
      if note:
        print(note, flush=True)
    return convert_torch(state, family)
  raise ValueError(f"unknown weights format {path.name!r}: expected .pth, .pt, .bin, .safetensors, "
                   f".h5 or .msgpack")


# ----------------------------------------------------------------------------------------------
# Putting them into a model's variables.


def _params_first(key: Key):
  """Sort order for messages: params before batch statistics, then by name."""
  return key[0] != "params", key


def _fit(value: np.ndarray, target_shape: tuple[int, ...]) -> np.ndarray:
  """A conv-shaped fc kernel (kh, kw, in, out) read by a dense layer -> (kh*kw*in, out)."""
  if value.ndim == 4 and len(target_shape) == 2:
    return value.reshape(-1, value.shape[-1])
  return value


def _check_known(converted, flat_target, paths, family: str, source: str) -> None:
  """Raise if the file has tensors that the family's full network does not have."""
  local = {k[:1] + k[1 + len(p):] for p in paths for k in flat_target
           if k[1:1 + len(p)] == tuple(p)}
  if all(k in local for k in converted):
    return  # the target already holds every file tensor: no need to trace the full network
  full = _full_keys(family)
  unexpected = sorted("/".join(k) for k in converted if k not in full)
  if unexpected:
    raise ValueError(f"{source}: {len(unexpected)} tensors are not part of {family} (is it the "
                     f"right file?): {', '.join(unexpected[:5])}")


def find_backbones(flat_target: Mapping[Key, Any], source_keys, family: str) -> list[Key]:
  """Paths P (within 'params') holding a backbone: P has the family's first layer and every
  module under P is one the file has."""
  modules = {k[1] for k in source_keys}
  anchor = _STEMS[family]
  children: dict[Key, set[str]] = {}
  for key in flat_target:
    if key[0] != "params":
      continue
    for i in range(1, len(key) - 1):
      children.setdefault(key[1:i], set()).add(key[i])
  return sorted(p for p, names in children.items() if anchor in names and names <= modules)


def load_into(variables, source: str, backbone, *, paths: list[Key] | None = None,
              cache: str | None = None, allow_random: Sequence[str] = (),
              allow_random_field: str = "allow_random"):
  """Copy pretrained weights into each backbone inside ``variables``; returns (variables, report).

  variables: a model's variables ({'params': ..., 'batch_stats': ...}), e.g. from ``model.init``.
  source: ``model.pretrained`` -- a file path, a weights name, or 'imagenet' (the backbone's
    default file).
  backbone: the backbone module or its registry name (picks the key layout).
  paths: where the backbone sits inside 'params' (and 'batch_stats'), e.g. ``[('backbone',)]``;
    found automatically when None.
  allow_random: names of the backbone's layers (its direct submodules, e.g. VGG16's
    ``classifier_0``) that may start from their initialisation when the file lacks them; any
    other missing tensor is an error that names ``allow_random_field`` (the config field).
  """
  family, head = family_of(backbone)
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables))
  if source == "imagenet":
    source = default_source(backbone, _mobilenet_width(flat) if family == "mobilenet_v1" else None)
  converted = read_converted(weight_sources.resolve(source, cache), family, backbone)
  if paths is None:
    paths = find_backbones(flat, converted, family)
    if not paths:
      raise ValueError(f"{source}: no {family} backbone found in the model's params; pass paths=")
  _check_known(converted, flat, paths, family, source)
  report = LoadReport(str(source), list(paths), 0, [], [])
  for prefix in paths:
    targets = {k[:1] + k[1 + len(prefix):]: k for k in flat
               if k[0] in ("params", "batch_stats") and k[1:1 + len(prefix)] == tuple(prefix)}
    absent = [k for k in sorted(targets, key=_params_first) if k not in converted]
    missing = ["/".join(k) for k in absent if k[1] not in allow_random]
    if missing:
      raise ValueError(f"{source}: {len(missing)} {family} tensors are missing from the file: "
                       f"{', '.join(missing[:5])} (to start their layers from random, name "
                       f"them in {allow_random_field})")
    report.random = sorted(set(report.random) | {k[1] for k in absent})
    targets = {k: t for k, t in targets.items() if k in converted}
    loaded, bad = 0, []
    for key, target_key in sorted(targets.items(), key=lambda kv: _params_first(kv[0])):
      value = _fit(converted[key], np.shape(flat[target_key]))
      if value.shape != np.shape(flat[target_key]):
        if key[1] == head:
          report.reinitialised.append(f"{'/'.join(key)} {value.shape}")
          continue
        bad.append(f"{'/'.join(key)} file {value.shape} vs model {np.shape(flat[target_key])}")
        continue
      flat[target_key] = jnp.asarray(value, dtype=flat[target_key].dtype)
      loaded += 1
    if bad:
      raise ValueError(f"{source}: {len(bad)} shape mismatches: {'; '.join(bad[:3])}")
    report.loaded = loaded
    report.skipped = sorted("/".join(k) for k in converted if k not in targets)
  return flax.traverse_util.unflatten_dict(flat), report
