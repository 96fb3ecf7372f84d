"""One registry of backbones by name (:class:`wsol_jax.registry.Registry`).

A backbone is a Flax Linen module ``backbone(images_nhwc_float32, train: bool) -> features_nhwc``:
the feature map that CAM heads, regressors and classifiers read. Modules register themselves with
``@register_backbone("name")``; :func:`get_backbone` builds one by name with keyword options.
"""

from __future__ import annotations

from wsol_jax import registry

BACKBONES = registry.Registry("backbone")
register_backbone = BACKBONES.register


def get_backbone(name: str, **kwargs):
  """Build the backbone registered as ``name``; unknown names raise a one-line error."""
  return BACKBONES.get(name)(**kwargs)


def backbone_names() -> list[str]:
  return BACKBONES.names()
