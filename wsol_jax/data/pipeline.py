"""grain input pipelines over ``tfds.data_source``: what the training loop calls.

Entry points (``data_cfg`` is ``config.data``, see :func:`default_data_config`)::

  default_data_config() -> ml_collections.ConfigDict
  ensure_prepared(data_cfg) -> tfds builder            # builds synthetic_wsol when missing
  num_classes(data_cfg) -> int
  class_names(data_cfg) -> list[str]
  num_examples(data_cfg, split=None) -> int            # split None: data_cfg.train_split
  eval_split(data_cfg) -> str                          # data_cfg.eval_split or the dataset's
  make_train_loader(data_cfg, batch_size, seed, shard_index=None, shard_count=None,
                    num_epochs=None, worker_count=None) -> grain.IterDataset
  make_eval_loader(data_cfg, batch_size, split=None, shard_index=None, shard_count=None,
                   eval_mode=None, worker_count=None, num_records=None) -> EvalLoader
  first_batch(loader) -> dict                          # one batch; the iterator closed at once
  close_iterator(it)                                   # stop its workers, unlink their memory
  release_shared_memory()                              # what closed loaders held (also at exit)
  evenly_spaced(num_records, count) -> int array       # the records num_records= reads
  box_counts(data_cfg, split) -> dict | None           # the build's box statistics of a split
  box_counts_at(data_cfg, split, indices) -> Iterator[int]  # boxes per record, images undecoded
  max_boxes(data_cfg, split) -> int | None             # the most boxes of one example
  any_boxes(data_cfg, split, indices) -> bool          # whether those records have a box

Batches are dicts of NumPy arrays, per process (``batch_size`` is this process's batch); the row
format is documented in :mod:`wsol_jax.data.transforms` (``image`` uint8 [B, S, S, 3], ``label``
int32 [B], ``bboxes`` float32 [B, max_boxes, 4] abs xyxy of the output image, ``bboxes_valid``
bool [B, max_boxes], ``valid`` bool [B], ``image_id`` bytes [B], optional ``mask`` uint8 [B, S, S]).

Train: this process's contiguous shard of the split (``shard_index`` / ``shard_count`` default to
``jax.process_index()`` / ``jax.process_count()``), reshuffled every epoch, augmented with a
per-example generator derived from (seed, shard, position), batched with ``drop_remainder``;
``num_epochs=None`` repeats forever (batches then run across epoch boundaries). The batches depend
only on the seed and the shard, not on ``worker_count``: workers transform single examples and the
main process batches them in order. ``it = iter(loader)``; ``it.get_state()`` is a JSON-able dict
(``json.dumps`` it, or save ``grain.python.PyGrainCheckpointSave(it)`` in an orbax checkpoint) and
``it.set_state(state)`` on a fresh iterator of the same loader resumes with the same next batch
(restore with the same ``worker_count``). Workers are spawned processes: a script that sets
``worker_count > 0`` needs the ``if __name__ == "__main__":`` guard; outside ``absl.app.run`` the
absl flags grain reads are marked parsed with their defaults. Workers hand examples over in shared
memory: close a train iterator when done (:func:`close_iterator`; an eval loader's iterator closes
itself at its end or when dropped); the first loader with workers registers
:func:`release_shared_memory` to run at exit, so Python's resource tracker finds nothing leaked.

Eval: deterministic and complete. Every process gets the same number of batches; its shard is
padded at the end with ``valid=False`` rows (zeros) up to a whole number of batches, so a
multi-host evaluation never drops or repeats an example and never hangs on uneven shards.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import gc
import math
from typing import Iterator

import grain.python as grain
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from wsol_jax.data import registry
from wsol_jax.data import synthetic_wsol
from wsol_jax.data import transforms

ensure_prepared = registry.ensure_prepared


def default_data_config() -> ml_collections.ConfigDict:
  """The ``config.data`` section (defaults: the offline synthetic_wsol demo at 64 px)."""
  c = ml_collections.ConfigDict()
  c.name = "synthetic_wsol"  # synthetic_wsol | cub | tiny_imagenet | imagenet_loc
  c.data_dir = ""  # '' -> $TFDS_DATA_DIR or ~/tensorflow_datasets
  c.manual_dir = ""  # If set, a missing real dataset is built from it on first use.
  c.builder_config = ""  # '' -> the builder's default (cub: 'with_masks' adds masks).
  c.skip_bad_examples = False  # Build: count + skip undecodable images / bad boxes, or fail.
  c.synthetic = ml_collections.ConfigDict(synthetic_wsol.DEFAULT_CONFIG.recipe())
  c.train_split = "train"
  c.eval_split = ""  # '' -> the dataset's evaluation split (test, or validation).
  c.image_size = 64  # Model input, square (224 for VGG / ResNet, 299 for Inception).
  c.resize_size = 72  # Square resize before random_crop / center_crop / ten_crop (256 / 320).
  c.train_augment = "random_crop"  # random_crop | random_resized_crop | resize_only
  c.hflip = True
  c.rrc_scale = (0.08, 1.0)  # random_resized_crop: area fraction range.
  c.rrc_ratio = (3 / 4, 4 / 3)  # random_resized_crop: aspect (w / h) range.
  c.eval_mode = "resize"  # resize | center_crop | ten_crop (ten_crop: image [B, 10, S, S, 3]).
  c.max_boxes = 8  # Boxes per example in a batch; more raises (ImageNet may need more).
  # Eval batches also hold 'image_ten_crop' [B, 10, S, S, 3]: ten crops of the original resized to
  # resize_size (SLT-Net's classifier at test time; the localization image stays 'image').
  c.eval_ten_crop_images = False
  # Train batches also hold 'image_plain' / 'bboxes_plain': the un-augmented image resized to
  # image_size and its boxes (LCHP's refine stage: pseudo-boxes of the fixed LCHP-I on I_r).
  c.train_plain_images = False
  c.with_mask = False  # Add 'mask' (uint8 [B, S, S]); the dataset must have masks.
  c.worker_count = 0  # grain worker processes (0: transform in this process).
  c.worker_buffer_size = 8  # Examples each worker prepares ahead.
  c.read_threads = 4  # Threads reading + decoding records, per process.
  c.prefetch_examples = 64  # Examples read ahead, per process.
  return c


def transform_spec(data_cfg, eval_mode: str | None = None) -> transforms.TransformSpec:
  return transforms.TransformSpec(
      image_size=int(data_cfg.image_size), resize_size=int(data_cfg.resize_size),
      max_boxes=int(data_cfg.max_boxes), with_mask=bool(data_cfg.with_mask),
      train_augment=data_cfg.train_augment, hflip=bool(data_cfg.hflip),
      rrc_scale=tuple(data_cfg.rrc_scale), rrc_ratio=tuple(data_cfg.rrc_ratio),
      eval_mode=eval_mode or data_cfg.eval_mode,
      ten_crop_images=bool(data_cfg.get("eval_ten_crop_images", False)),
      train_plain_images=bool(data_cfg.get("train_plain_images", False)))


def eval_split(data_cfg) -> str:
  """``data_cfg.eval_split``, or the dataset's evaluation split when it is ''."""
  return data_cfg.eval_split or registry.builder_class(data_cfg.name).EVAL_SPLIT


def num_classes(data_cfg) -> int:
  return int(ensure_prepared(data_cfg).info.features["label"].num_classes)


def class_names(data_cfg) -> list[str]:
  """The dataset's class names, by label (TFDS ``ClassLabel`` names; '0', '1', ... when unnamed)."""
  return [str(n) for n in ensure_prepared(data_cfg).info.features["label"].names]


def num_examples(data_cfg, split: str | None = None) -> int:
  builder = ensure_prepared(data_cfg)
  split = split or data_cfg.train_split
  if split not in builder.info.splits:
    raise ValueError(f"{data_cfg.name} has no split {split!r}; it has {list(builder.info.splits)}")
  return int(builder.info.splits[split].num_examples)


def _data_source(data_cfg, split: str):
  builder = ensure_prepared(data_cfg)
  if split not in builder.info.splits:
    raise ValueError(f"{data_cfg.name} has no split {split!r}; it has {list(builder.info.splits)}")
  if data_cfg.with_mask and "mask" not in builder.info.features:
    raise ValueError(f"data.with_mask=True but {data_cfg.name}/{builder.builder_config.name} has "
                     "no masks (cub: set data.builder_config='with_masks')")
  return builder.as_data_source(split)


def _shard(shard_index: int | None, shard_count: int | None) -> tuple[int, int]:
  if shard_index is None or shard_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    shard_index = jax.process_index() if shard_index is None else shard_index
    shard_count = jax.process_count() if shard_count is None else shard_count
  if not 0 <= shard_index < shard_count:
    raise ValueError(f"shard_index={shard_index} not in [0, shard_count={shard_count})")
  return shard_index, shard_count


def shard_bounds(num_records: int, shard_index: int, shard_count: int) -> tuple[int, int]:
  """[start, end) of a contiguous shard; shard sizes differ by at most one."""
  return (num_records * shard_index // shard_count,
          num_records * (shard_index + 1) // shard_count)


def _seed(*parts: int) -> int:
  """A 32-bit seed mixed from integer parts (grain shuffle seeds must be < 2**32)."""
  return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def _ensure_absl_flags_parsed() -> None:
  """grain worker processes read absl flags; outside ``absl.app.run`` take their defaults."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


def _finish(ds: grain.MapDataset, data_cfg, batch_size: int, worker_count: int | None,
            drop_remainder: bool) -> grain.IterDataset:
  """Read (threads) -> transform (workers) -> batch (this process, in order)."""
  workers = int(data_cfg.worker_count if worker_count is None else worker_count)
  it = ds.to_iter_dataset(grain.ReadOptions(
      num_threads=int(data_cfg.read_threads),
      prefetch_buffer_size=int(data_cfg.prefetch_examples)))
  if workers > 0:
    _ensure_absl_flags_parsed()
    _release_shared_memory_at_exit()
    it = it.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=workers, per_worker_buffer_size=int(data_cfg.worker_buffer_size)))
  return it.batch(batch_size, drop_remainder=drop_remainder)


def make_train_loader(data_cfg, batch_size: int, seed: int, shard_index: int | None = None,
                      shard_count: int | None = None, num_epochs: int | None = None,
                      worker_count: int | None = None) -> grain.IterDataset:
  """Shuffled, augmented, batched train examples of this process's shard (see module doc)."""
  shard_index, shard_count = _shard(shard_index, shard_count)
  source = _data_source(data_cfg, data_cfg.train_split)
  start, end = shard_bounds(len(source), shard_index, shard_count)
  if end - start < batch_size:
    raise ValueError(f"{data_cfg.name}/{data_cfg.train_split}: shard {shard_index}/{shard_count} "
                     f"has {end - start} examples, fewer than batch_size={batch_size}")
  spec = transform_spec(data_cfg)
  ds = grain.MapDataset.source(source)[start:end]
  ds = ds.shuffle(seed=_seed(seed, shard_index, 0)).repeat(num_epochs)
  ds = ds.random_map(transforms.TrainTransform(spec), seed=_seed(seed, shard_index, 1))
  return _finish(ds, data_cfg, batch_size, worker_count, drop_remainder=True)


_PADDING = {"__padding__": True}


class _PaddedShard:
  """Records [start, end) of ``source``, then padding markers up to ``length``."""

  def __init__(self, source, start: int, end: int, length: int):
    self.source, self.start, self.end, self.length = source, start, end, length

  def __len__(self) -> int:
    return self.length

  def __getitem__(self, index: int):
    if not 0 <= index < self.length:
      raise IndexError(index)
    if self.start + index < self.end:
      return self.source[self.start + index]
    return _PADDING


class _Subset:
  """The records of ``source`` at ``indices``, in that order."""

  def __init__(self, source, indices: np.ndarray):
    self.source, self.indices = source, indices

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, index: int):
    return self.source[int(self.indices[index])]


class _EvalTransform(transforms.EvalTransform):

  def map(self, example):
    return super().map(None if "__padding__" in example else example)


@dataclasses.dataclass
class EvalLoader:
  """One pass over this process's eval shard; ``len()`` = batches (the same on every process)."""
  dataset: grain.IterDataset
  num_batches: int
  num_examples: int  # Real (valid) examples in this shard.
  shard_start: int  # Index of the shard's first example in the split.

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    it = iter(self.dataset)
    try:
      yield from it
    finally:  # at the end, or when the loop stops early and drops this generator
      close_iterator(it)

  def __len__(self) -> int:
    return self.num_batches


def make_eval_loader(data_cfg, batch_size: int, split: str | None = None,
                     shard_index: int | None = None, shard_count: int | None = None,
                     eval_mode: str | None = None, worker_count: int | None = None,
                     num_records: int | None = None) -> EvalLoader:
  """Deterministic, complete, padded + masked batches of this process's shard of ``split``.

  Args:
    data_cfg: ``config.data``.
    batch_size: this process's batch size.
    split: defaults to :func:`eval_split`.
    eval_mode: overrides ``data_cfg.eval_mode`` ('resize' | 'center_crop' | 'ten_crop').
    num_records: only this many records of the split, evenly spaced over it (all when None or
      at least the split's size); e.g. a few images of every class of a class-ordered split.
  """
  shard_index, shard_count = _shard(shard_index, shard_count)
  split = split or eval_split(data_cfg)
  source = _data_source(data_cfg, split)
  if num_records is not None and 0 < num_records < len(source):
    source = _Subset(source, evenly_spaced(len(source), num_records))
  n = len(source)
  start, end = shard_bounds(n, shard_index, shard_count)
  num_batches = math.ceil(math.ceil(n / shard_count) / batch_size)
  ds = grain.MapDataset.source(_PaddedShard(source, start, end, num_batches * batch_size))
  ds = ds.map(_EvalTransform(transform_spec(data_cfg, eval_mode)))
  return EvalLoader(_finish(ds, data_cfg, batch_size, worker_count, drop_remainder=False),
                    num_batches=num_batches, num_examples=end - start, shard_start=start)


def first_batch(loader) -> dict[str, np.ndarray]:
  """The first batch of a fresh iterator of ``loader`` (train or eval), its iterator closed at once
  (its worker processes stopped and their shared memory unlinked)."""
  it = iter(loader)
  try:
    return next(it)
  finally:
    close_iterator(it)


def close_iterator(it) -> None:
  """Closes a loader's iterator: its worker processes stop and the examples they had prepared are
  unlinked from shared memory. Safe to call twice, and on iterators without workers."""
  close = getattr(it, "close", None)
  if close is not None:
    close()


@functools.cache  # once per process
def _release_shared_memory_at_exit() -> None:
  atexit.register(release_shared_memory)  # before multiprocessing's own exit handlers (LIFO)


def release_shared_memory() -> None:
  """Unlinks the shared memory closed iterators still hold (at exit: see the module docstring).

  A grain worker's last example stays referenced from a reference cycle (the StopIteration's
  traceback holds the prefetch thread's frame), and grain unlinks an example's shared memory on a
  thread pool when its array is freed: collect the cycles, then wait for the pool's queue (one
  thread, first in first out) to drain. Without this Python's resource tracker warns of "leaked
  shared_memory objects" at shutdown (and unlinks them itself).
  """
  gc.collect()
  try:  # grain's private module (0.2.x): another grain version just skips the wait
    from grain._src.python.ipc import shared_memory_array  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  del_pool = getattr(shared_memory_array.SharedMemoryArray, "_del_thread_pool", None)
  if del_pool is not None:
    del_pool.apply(int)


def evenly_spaced(num_records: int, count: int) -> np.ndarray:
  """Indices of ``count`` records evenly spaced over ``num_records`` (all when ``count`` is not in
  ``(0, num_records)``): the records ``make_eval_loader(num_records=count)`` reads."""
  if not 0 < count < num_records:
    return np.arange(num_records)
  return np.linspace(0, num_records - 1, count).round().astype(int)


# ----------------------------------------------------------------------------------------------
# Box statistics of a prepared split, read without decoding any image (the start-up checks).

# A build without box statistics (made before they were recorded) is scanned for its most boxes
# per example only up to this many records (images are read, not decoded: 0.2 ms a record of
# 64 px synthetic_wsol, 0.7 ms of a 110 KB ImageNet-sized JPEG, page-cached, 2 CPU cores).
SCAN_LIMIT = 20_000


def box_counts(data_cfg, split: str) -> dict[str, int] | None:
  """``{'examples', 'with_boxes', 'max_boxes'}`` of ``split`` as the builder recorded them
  (:mod:`wsol_jax.data.wsol_builder`), or None for a build made before they were recorded."""
  counts = ensure_prepared(data_cfg).info.metadata.get("box_counts") or {}
  return counts.get(split)


def box_counts_at(data_cfg, split: str, indices) -> Iterator[int]:
  """The number of boxes of the records of ``split`` at ``indices``, read in chunks with every
  image feature left undecoded."""
  builder = ensure_prepared(data_cfg)
  _data_source(data_cfg, split)  # one-line errors for a missing split
  skip = {name: tfds.decode.SkipDecoding() for name, feature in builder.info.features.items()
          if isinstance(feature, tfds.features.Image)}
  source = builder.as_data_source(split, decoders=skip)
  indices = [int(i) for i in indices]
  for start in range(0, len(indices), 256):
    for record in source.__getitems__(indices[start:start + 256]):
      yield len(record["bboxes"])


def max_boxes(data_cfg, split: str, scan_limit: int = SCAN_LIMIT) -> int | None:
  """The most boxes one example of ``split`` has: the build's box statistics; for an older build
  ``info.metadata['max_boxes']`` when present (imagenet_loc: over all splits), else the boxes of
  a split of at most ``scan_limit`` records, read; None when still unknown."""
  counts = box_counts(data_cfg, split)
  if counts is not None:
    return int(counts["max_boxes"])
  metadata = ensure_prepared(data_cfg).info.metadata
  if "max_boxes" in metadata:
    return int(metadata["max_boxes"])
  n = num_examples(data_cfg, split)
  if n > scan_limit:
    return None
  return max(box_counts_at(data_cfg, split, range(n)), default=0)


def any_boxes(data_cfg, split: str, indices) -> bool:
  """Whether any record of ``split`` at ``indices`` has a box: the build's box statistics answer
  when no example or every example has one; otherwise the boxes are read (images not decoded)
  until the first record with one."""
  counts = box_counts(data_cfg, split)
  if counts is not None and counts["with_boxes"] in (0, counts["examples"]):
    return counts["with_boxes"] > 0 and len(indices) > 0
  return any(n > 0 for n in box_counts_at(data_cfg, split, indices))
