"""Which datasets exist, where they live, and getting one built (used by the loaders and the CLI).

``make_builder(data_cfg)`` returns the TFDS builder a data config names; ``ensure_prepared``
builds ``synthetic_wsol`` on first use (offline, seconds) and, for real datasets, stops with a
one-line error that gives the prepare command and the files to place in the manual dir.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow_datasets as tfds

from wsol_jax import registry

# A builder registers itself (``@DATASETS.register(name)``); its module is imported only when its
# dataset is used.
DATASETS = registry.Registry("dataset", modules={
    "synthetic_wsol": "wsol_jax.data.synthetic_wsol", "cub": "wsol_jax.data.cub",
    "tiny_imagenet": "wsol_jax.data.tiny_imagenet", "imagenet_loc": "wsol_jax.data.imagenet_loc"})


def builder_class(name: str) -> type:
  """The builder class registered as ``name``."""
  return DATASETS.get(name)


def resolve_data_dir(data_dir: str | None) -> str:
  """'' / None -> $TFDS_DATA_DIR or ~/tensorflow_datasets (TFDS's default); '~' expanded."""
  if not data_dir:
    data_dir = os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
  return os.path.abspath(os.path.expanduser(data_dir))


def cfg_get(cfg: Any, key: str, default=None):
  """``cfg[key]`` of a ConfigDict, dict or object (``default`` when absent)."""
  return cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)


def make_builder(data_cfg: Any) -> tfds.core.DatasetBuilder:
  """The builder for ``data_cfg`` (fields: name, data_dir, builder_config, skip_bad_examples,
  and for synthetic_wsol the recipe in ``data_cfg.synthetic``)."""
  name = cfg_get(data_cfg, "name")
  cls = builder_class(name)
  config = cls.config_from_data(cfg_get(data_cfg, "builder_config") or None, data_cfg)
  return cls(data_dir=resolve_data_dir(cfg_get(data_cfg, "data_dir")), config=config,
             skip_bad_examples=bool(cfg_get(data_cfg, "skip_bad_examples", False)))


def prepare(builder: tfds.core.DatasetBuilder, manual_dir: str | None = None) -> None:
  """Build (download / read the manual dir / render) the dataset if not done yet."""
  config = tfds.download.DownloadConfig(
      manual_dir=os.path.expanduser(manual_dir) if manual_dir else None)
  builder.download_and_prepare(download_config=config)


def prepare_command(name: str, data_dir: str) -> str:
  return f"python -m wsol_jax.data.prepare --dataset={name} --data_dir={data_dir}"


def ensure_prepared(data_cfg: Any) -> tfds.core.DatasetBuilder:
  """The builder of a dataset that is ready to read; builds synthetic_wsol when missing.

  Raises:
    FileNotFoundError: a real dataset that has not been prepared (message: how to prepare it).
  """
  builder = make_builder(data_cfg)
  if builder.is_prepared():
    return builder
  name = builder.name
  if name == "synthetic_wsol":
    prepare(builder)
    return make_builder(data_cfg)  # Re-read the written info (class names, split sizes).
  manual_dir = cfg_get(data_cfg, "manual_dir")
  if manual_dir:
    prepare(builder, manual_dir)
    return make_builder(data_cfg)
  raise FileNotFoundError(
      f"dataset {name!r} ({builder.builder_config.name if builder.builder_config else 'default'})"
      f" is not prepared in {builder.data_dir}: run `{prepare_command(name, builder.data_dir_root)}"
      f" --manual_dir=DIR` where DIR holds {getattr(builder, 'MANUAL_FILES', 'the source files')}"
      " (or set data.manual_dir to build on first use)")
