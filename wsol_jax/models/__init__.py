"""Flax models: backbones (registered by name) and the heads built on them."""

from wsol_jax.models.registry import backbone_names, get_backbone, register_backbone

from wsol_jax.models import small  # registers "small_vgg"
# Paper-scale ImageNet backbones (each registers itself on import).
from wsol_jax.models import densenet, inception, mobilenet, resnet, vgg  # noqa: F401
