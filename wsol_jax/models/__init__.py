"""Flax models: backbones (registered by name) and the heads built on them."""

from wsol_jax.models.registry import backbone_names, get_backbone, register_backbone
