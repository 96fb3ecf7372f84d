"""The common base of wsol_jax's TFDS builders: example schema, array_record, bad-example policy.

Every builder (``synthetic_wsol``, ``cub``, ``tiny_imagenet``, ``imagenet_loc``) subclasses
:class:`WsolBuilder` and yields examples made by :func:`make_example`, so all datasets share one
schema (DESIGN.md):

* ``image``    -- uint8 [H, W, 3] RGB (stored as the source JPEG or as PNG);
* ``label``    -- int, 0-based (``tfds.features.ClassLabel``; names set from the source files);
* ``bboxes``   -- float32 [N, 4] absolute xyxy in continuous pixel-edge coordinates of the stored
  image (pixel ``i`` spans ``[i, i + 1)``), clipped to the image, never degenerate;
* ``image_id`` -- str, the path of the source image relative to the dataset root;
* ``mask``     -- optional uint8 [H, W, 1] segmentation.

Builders write ``array_record`` and need no TensorFlow: they read with ``tfds.data_source``.
A builder made with ``skip_bad_examples=True`` counts and skips unusable examples (missing or
undecodable image, degenerate box, mask of the wrong size) instead of stopping with a one-line
error; the skipped ones are listed in ``info.metadata["skipped"]`` (and ``metadata.json``).

Box statistics (read at start-up by :mod:`wsol_jax.training.preflight`, so that a run learns in its
first seconds whether ``data.max_boxes`` is enough and whether the train split has boxes)::

  info.metadata["box_counts"] = {split: {"examples": int, "with_boxes": int, "max_boxes": int}}
  info.metadata["max_boxes"] = the most boxes of any example, over all splits

``examples``: examples written; ``with_boxes``: those with at least one box (ImageNet's train split
without ``LOC_train_solution.csv``: 0); ``max_boxes``: the most boxes of one example. Builds made
before these keys existed lack them (readers then scan the boxes: :mod:`wsol_jax.data.pipeline`).

A new builder (e.g. ``imagenet_loc``) follows the pattern of :mod:`wsol_jax.data.cub`::

  class MyData(wsol_builder.WsolBuilder):
    VERSION = tfds.core.Version("1.0.0")
    EVAL_SPLIT = "validation"
    MANUAL_FILES = "my_data.zip"          # named in the "not prepared" error
    def _info(self):
      return self.wsol_info(description="...", homepage="...")
    def _split_generators(self, dl_manager):
      manual = self.find_manual_dir(dl_manager)   # None -> download
      self.set_class_names(names)                  # before any example is written
      return self.with_box_counts({"train": self._generate_examples(items)})
    def _generate_examples(self, items):
      def to_kwargs(item):  # -> (key, make_example kwargs); may raise BadExampleError
        return item.id, dict(image_id=item.id, label=item.label, bboxes_xyxy=item.boxes,
                             path=item.path)
      yield from self.generate(items, to_kwargs)   # decodes in threads, keeps the order
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from wsol_jax.data import decode


def wsol_features(with_mask: bool = False, extra: dict[str, Any] | None = None
                  ) -> tfds.features.FeaturesDict:
  """The shared example schema (class names are filled in at build time)."""
  feats = {
      "image": tfds.features.Image(shape=(None, None, 3)),
      "label": tfds.features.ClassLabel(),
      "bboxes": tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
      "image_id": tfds.features.Text(),
  }
  if with_mask:
    feats["mask"] = tfds.features.Image(shape=(None, None, 1), encoding_format="png")
  feats.update(extra or {})
  return tfds.features.FeaturesDict(feats)


def make_example(*, image_id: str, label: int, bboxes_xyxy, data: bytes | None = None,
                 path: str | os.PathLike | None = None, mask_path: str | os.PathLike | None = None,
                 name: str | None = None) -> dict[str, Any]:
  """Decode + validate one source example into the schema's dict.

  Args:
    image_id: name of the example.
    label: 0-based class index.
    bboxes_xyxy: [N, 4] abs xyxy boxes (continuous pixel edges) of the source image.
    data / path: the encoded image, or the file to read it from.
    mask_path: optional segmentation PNG of the same size.
    name: the source file as error messages call it (default: ``path`` or ``image_id``).

  Raises:
    decode.BadExampleError: one line naming the file.
  """
  name = name or (os.fspath(path) if path is not None else image_id)
  rgb, stored = decode.load_rgb_image(data, path=path, name=name)
  h, w = rgb.shape[:2]
  example = {
      "image": stored,
      "label": int(label),
      "bboxes": decode.validate_boxes_xyxy(bboxes_xyxy, w, h, name=name),
      "image_id": image_id,
  }
  if mask_path is not None:
    example["mask"] = decode.encode_png(decode.load_mask(mask_path, (h, w)))
  return example


class WsolBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """GeneratorBasedBuilder writing array_record, with the bad-example policy of this package."""

  # The evaluation split (``data.eval_split=''`` picks it) and, for the "not prepared" error,
  # what the manual dir must hold.
  EVAL_SPLIT = "test"
  MANUAL_FILES = "the source files"
  # The source files that add boxes to the train split when it may have none (named in the note of
  # a run that wanted held-out training boxes); None: the train split always has boxes.
  TRAIN_BOX_FILES: str | None = None

  @classmethod
  def config_from_data(cls, builder_config: str | None, data_cfg) -> Any:
    """The builder config that ``data.builder_config`` (a name or None: the default) and the rest
    of the data config ``data_cfg`` name; a builder whose recipe lives in the data config overrides
    this."""
    del data_cfg
    return builder_config

  def __init__(self, *, skip_bad_examples: bool = False, file_format: str = "array_record",
               **kwargs):
    super().__init__(file_format=file_format, **kwargs)
    self._bad = decode.BadExampleLog(self.name, skip=skip_bad_examples)

  def wsol_info(self, *, with_mask: bool = False, extra_features: dict[str, Any] | None = None,
                **info_kwargs) -> tfds.core.DatasetInfo:
    """DatasetInfo with the shared schema and a metadata dict (class names, skipped examples)."""
    return self.dataset_info_from_configs(
        features=wsol_features(with_mask, extra_features),
        metadata=tfds.core.MetadataDict(),
        **info_kwargs)

  def find_manual_dir(self, dl_manager) -> str | None:
    """The manual dir when it holds files; None (-> download) when the user gave none.

    Raises FileNotFoundError for a manual dir that was given but is missing or empty, rather
    than silently falling back to a download.
    """
    try:
      return os.fspath(dl_manager.manual_dir)
    except AssertionError:  # Not given (TFDS then points at <download_dir>/manual), or empty.
      given = getattr(dl_manager, "_manual_dir", None)
      default = os.path.join(os.fspath(dl_manager.download_dir), "manual")
      if given and os.path.abspath(os.fspath(given)) != os.path.abspath(default):
        raise FileNotFoundError(f"{self.name}: the manual dir {os.fspath(given)} is missing or "
                                f"empty; it should hold {self.MANUAL_FILES}") from None
      return None

  def set_class_names(self, names: Sequence[str]) -> None:
    """Fix the label names (label i = names[i]); call in ``_split_generators``."""
    if not names:
      raise ValueError(f"{self.name}: no classes found in the source files")
    self.info.features["label"].names = list(names)
    self.info.metadata["skipped"] = self._bad.skipped  # The same list, filled while building.

  def with_box_counts(self, splits: dict[str, Iterable[tuple[str, dict[str, Any]]]]
                      ) -> dict[str, Iterator[tuple[str, dict[str, Any]]]]:
    """``_split_generators``' ``{split: (key, example) generator}``, passed through while the box
    statistics of each split are tallied into ``info.metadata`` (see the module doc)."""
    counts = self.info.metadata.setdefault("box_counts", {})
    self.info.metadata["max_boxes"] = 0

    def tally(split, examples):
      stats = counts.setdefault(split, {"examples": 0, "with_boxes": 0, "max_boxes": 0})
      for key, example in examples:
        n = len(example["bboxes"])
        stats["examples"] += 1
        stats["with_boxes"] += int(n > 0)
        stats["max_boxes"] = max(stats["max_boxes"], n)
        self.info.metadata["max_boxes"] = max(self.info.metadata["max_boxes"], n)
        yield key, example

    return {split: tally(split, examples) for split, examples in splits.items()}

  def try_example(self, **kwargs) -> dict[str, Any] | None:
    """:func:`make_example`, or None after recording a bad example when skipping."""
    try:
      return make_example(**kwargs)
    except decode.BadExampleError as e:
      self._bad.handle(e)
      return None

  def generate(self, items: Iterable[Any], to_kwargs: Callable[[Any], tuple[str, dict[str, Any]]],
               threads: int = 8, window: int = 256) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(key, example)`` in the order of ``items``, decoding in ``threads`` threads.

    ``to_kwargs(item)`` -> ``(key, make_example kwargs)``. At most ``window`` examples are in
    flight, so memory stays bounded on large datasets.
    """
    def work(item):
      try:
        key, kwargs = to_kwargs(item)  # May read the file: a missing one is a bad example too.
      except decode.BadExampleError as e:
        self._bad.handle(e)
        return None, None
      return key, self.try_example(**kwargs)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
      pending = collections.deque()
      for item in items:
        pending.append(pool.submit(work, item))
        if len(pending) >= window:
          key, ex = pending.popleft().result()
          if ex is not None:
            yield key, ex
      while pending:
        key, ex = pending.popleft().result()
        if ex is not None:
          yield key, ex

  @property
  def skipped_examples(self) -> list[str]:
    """One-line reasons of the examples skipped while building (empty unless skipping)."""
    return list(self._bad.skipped)
