"""Tiny runs of the CAM-shaped baselines (HaS, CutMix, ADL, ACoL, SPG) for their tests: a 2-stage
small VGG on 32 px synthetic_wsol images (4 classes), batch 16, and the method's own config
section at its defaults (``config.<name> = wsol_jax.methods.<name>.config.default_config()``)."""

from __future__ import annotations

import importlib

import jax
import numpy as np

from wsol_jax import config_defaults
from wsol_jax.data import synthetic_render
from wsol_jax.methods import common
from wsol_jax.training import method as base

BATCH, SIZE = 16, 32
SPEC = synthetic_render.RenderSpec(image_size=SIZE, num_groups=2, classes_per_group=2)
# The tiny width of the heads that replace the CAM head (as model.head_channels below).
TINY_SECTIONS = {"acol": {"channels": 16}}
INFO = base.RunInfo(num_classes=SPEC.num_classes, steps_per_epoch=4, train_size=64)


def tiny_config(name: str, **section_overrides):
  """The tiny run of method ``name``; ``section_overrides`` set ``config.<name>`` fields."""
  config = config_defaults.get_base_config()
  config.method = name
  config.data.image_size, config.data.resize_size = SIZE, 36
  config.model.backbone_kwargs = {"widths": (8, 16), "convs_per_stage": 1}
  config.model.head_channels = 16
  config.train.batch_size = BATCH
  config.train.num_steps = 40
  config.train.lr = 0.05
  config.train.lr_mults = {"backbone": 1.0, "head": 1.0}  # nothing is pretrained
  config.train.schedule = "constant"
  section = importlib.import_module(f"wsol_jax.methods.{name}.config").default_config()
  for key, value in {**TINY_SECTIONS.get(name, {}), **section_overrides}.items():
    section[key] = value
  config[name] = section
  return config


def synthetic_batch(n: int = BATCH, seed: int = 0) -> dict:
  """``n`` rendered examples as a loader batch: ``image`` uint8 [n, S, S, 3], ``label`` [n],
  ``bboxes`` [n, 1, 4] abs xyxy, ``bboxes_valid`` [n, 1], ``valid`` [n]."""
  rng = np.random.default_rng(seed)
  examples = [synthetic_render.render_example(SPEC, rng, label=i % SPEC.num_classes)
              for i in range(n)]
  return {"image": np.stack([e["image"] for e in examples]),
          "label": np.asarray([e["label"] for e in examples], np.int32),
          "bboxes": np.stack([e["bbox_xyxy"] for e in examples])[:, None].astype(np.float32),
          "bboxes_valid": np.ones((n, 1), bool), "valid": np.ones((n,), bool)}


def train_losses(name: str, steps: int = 40, **section_overrides
                 ) -> tuple[list[float], tuple[float, float]]:
  """``steps`` jitted steps of ``name`` on one fixed synthetic batch (the same images every step)
  -> (the training loss of each step, the evaluation-mode cross-entropy of the localizer's logits
  on the clean batch before and after training)."""
  config = tiny_config(name, **section_overrides)
  method = base.get_method(name)(config, INFO)
  batch = synthetic_batch()
  state = method.init_state(jax.random.key(0), batch)
  step = jax.jit(lambda s, b, r: method.train_step(s, b, r, stage="train"))

  def clean_cross_entropy(state):
    logits = method.predict(state, batch)["localizer"]["logits"]
    return float(common.mean_cross_entropy(logits, batch["label"]))

  before = clean_cross_entropy(state)
  losses = []
  for _ in range(steps):
    state, metrics = step(state, batch, jax.random.key(1))
    losses.append(float(metrics["loss"]))
  return losses, (before, clean_cross_entropy(state))
