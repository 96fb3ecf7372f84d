"""One registry of backbones by name.

A backbone is a Flax Linen module ``backbone(images_nhwc_float32, train: bool) -> features_nhwc``:
the feature map that CAM heads, regressors and classifiers read. Modules register themselves with
``@register_backbone("name")``; :func:`get_backbone` builds one by name with keyword options.
"""

from __future__ import annotations

from typing import Callable

_BACKBONES: dict[str, Callable] = {}


def register_backbone(name: str):
  """Class decorator: make ``name`` buildable with :func:`get_backbone`."""

  def wrap(cls):
    if name in _BACKBONES:
      raise ValueError(f"backbone {name!r} is registered twice")
    _BACKBONES[name] = cls
    return cls

  return wrap


def get_backbone(name: str, **kwargs):
  """Build the backbone registered as ``name``; unknown names raise a one-line error."""
  if name not in _BACKBONES:
    raise ValueError(f"unknown backbone {name!r}; known: {', '.join(sorted(_BACKBONES))}")
  return _BACKBONES[name](**kwargs)


def backbone_names() -> list[str]:
  return sorted(_BACKBONES)
