"""TFDS builder ``synthetic_wsol``: the offline default dataset (see :mod:`synthetic_render`).

The default config (``synthetic_wsol/default``) holds 12 classes = 4 groups x 3 parts, 64 x 64
images, 2,400 train / 600 test (200 / 50 per class, balanced) and builds in a few seconds. The
size is chosen so that a tiny CNN separates the classes in a few CPU minutes while the 600 test
images still pin accuracy down to about +-2 points. Examples also carry ``part_bboxes`` (the tight
box of the discriminative part, inside the object box) so part domination can be measured.

Custom recipes: :func:`make_config` (any fields of :class:`SyntheticWsolConfig`) gets a config
whose name encodes its fields, so different recipes never share a directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import tensorflow_datasets as tfds

from wsol_jax.data import registry
from wsol_jax.data import decode
from wsol_jax.data import synthetic_render
from wsol_jax.data import wsol_builder


@dataclasses.dataclass(eq=False)
class SyntheticWsolConfig(tfds.core.BuilderConfig):
  """Recipe of a synthetic_wsol variant (fields of RenderSpec + split sizes)."""
  image_size: int = 64
  num_train: int = 2400
  num_test: int = 600
  num_groups: int = 4
  classes_per_group: int = 3
  part_size: float = 0.1
  clutter: float = 1.0
  seed: int = 0

  def render_spec(self) -> synthetic_render.RenderSpec:
    return synthetic_render.RenderSpec(
        image_size=self.image_size, num_groups=self.num_groups,
        classes_per_group=self.classes_per_group, part_size=self.part_size,
        clutter=self.clutter, seed=self.seed)

  def recipe(self) -> dict:
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(SyntheticWsolConfig)
            if f.name in RECIPE_FIELDS}


RECIPE_FIELDS = ("image_size", "num_train", "num_test", "num_groups", "classes_per_group",
                 "part_size", "clutter", "seed")
DEFAULT_CONFIG = SyntheticWsolConfig(
    name="default", description="64 px, 4 groups x 3 parts, 2400 train / 600 test.")


def make_config(**fields) -> SyntheticWsolConfig:
  """A config for the given recipe fields; 'default' when they equal the default recipe."""
  unknown = set(fields) - set(RECIPE_FIELDS)
  if unknown:
    raise ValueError(f"unknown synthetic_wsol fields {sorted(unknown)}; known: {RECIPE_FIELDS}")
  recipe = {**DEFAULT_CONFIG.recipe(), **fields}
  recipe["part_size"] = float(recipe["part_size"])
  recipe["clutter"] = float(recipe["clutter"])
  if recipe == DEFAULT_CONFIG.recipe():
    return DEFAULT_CONFIG
  tag = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
  name = f"s{recipe['image_size']}_g{recipe['num_groups']}x{recipe['classes_per_group']}_{tag}"
  cfg = SyntheticWsolConfig(name=name, description=f"custom recipe {recipe}", **recipe)
  cfg.render_spec()  # Validates the fields now, with a clear message.
  return cfg


@registry.DATASETS.register("synthetic_wsol")
class SyntheticWsol(wsol_builder.WsolBuilder):
  """Procedural fine-grained WSOL data with a dominant small part; builds offline in seconds."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [DEFAULT_CONFIG]
  DEFAULT_BUILDER_CONFIG_NAME = "default"

  @classmethod
  def config_from_data(cls, builder_config, data_cfg):
    """The recipe of ``data.synthetic`` (``builder_config`` must be unset or 'default'): by name
    when it is a built-in config (TFDS rejects a copy of one)."""
    recipe = dict(registry.cfg_get(data_cfg, "synthetic") or {})
    if builder_config and builder_config != "default":
      raise ValueError(f"synthetic_wsol has no builder_config {builder_config!r}: set "
                       "data.synthetic.* fields for other recipes")
    config = make_config(**recipe)
    return config.name if config.name in cls.builder_configs else config

  def _info(self) -> tfds.core.DatasetInfo:
    return self.wsol_info(
        with_mask=True,
        extra_features={
            "part_bboxes": tfds.features.Tensor(shape=(None, 4), dtype=np.float32)},
        description=(synthetic_render.__doc__ or "").split("\n\n")[0],
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    spec = self.builder_config.render_spec()
    self.set_class_names(spec.class_names())
    return self.with_box_counts({
        "train": self._generate_examples("train", self.builder_config.num_train),
        "test": self._generate_examples("test", self.builder_config.num_test),
    })

  def _generate_examples(self, split: str, count: int):
    spec = self.builder_config.render_spec()
    for index in range(count):
      rng = synthetic_render.example_rng(spec.seed, split, index)
      ex = synthetic_render.render_example(spec, rng, label=index % spec.num_classes)
      image_id = f"{split}/{index:06d}"
      yield image_id, {
          "image": decode.encode_png(ex["image"]),
          "mask": decode.encode_png(ex["mask"].astype(np.uint8) * 255),
          "label": ex["label"],
          "bboxes": ex["bbox_xyxy"][None],
          "part_bboxes": ex["part_bbox_xyxy"][None],
          "image_id": image_id,
      }
