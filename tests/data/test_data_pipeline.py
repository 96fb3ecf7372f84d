"""grain loaders: batch format, determinism, restart from state, workers, shards, eval padding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsol_jax.data import pipeline

N_TRAIN, N_TEST, SIZE = 60, 27, 32


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
  c = pipeline.default_data_config()
  c.data_dir = str(tmp_path_factory.mktemp("tfds"))
  c.synthetic.update(image_size=40, num_train=N_TRAIN, num_test=N_TEST, num_groups=2,
                     classes_per_group=2, seed=5)
  c.image_size, c.resize_size = SIZE, 36
  c.read_threads = 2
  return c


def _take(loader_or_iter, n):
  it = iter(loader_or_iter)
  return [next(it) for _ in range(n)]


def _assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert set(x) == set(y)
    for key in x:
      np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_ensure_prepared_builds_synthetic_offline(cfg):
  builder = pipeline.ensure_prepared(cfg)  # Empty data dir: rendered on first use.
  assert builder.is_prepared()
  assert pipeline.num_classes(cfg) == 4
  assert pipeline.num_examples(cfg) == N_TRAIN
  assert pipeline.num_examples(cfg, pipeline.eval_split(cfg)) == N_TEST
  with pytest.raises(ValueError, match="no split 'val'"):
    pipeline.num_examples(cfg, "val")


def test_train_batch_format(cfg):
  (batch,) = _take(pipeline.make_train_loader(cfg, 8, seed=0, shard_index=0, shard_count=1), 1)
  assert batch["image"].shape == (8, SIZE, SIZE, 3) and batch["image"].dtype == np.uint8
  assert batch["label"].shape == (8,) and batch["label"].dtype == np.int32
  assert batch["bboxes"].shape == (8, cfg.max_boxes, 4) and batch["bboxes"].dtype == np.float32
  assert batch["bboxes_valid"].shape == (8, cfg.max_boxes) and batch["bboxes_valid"].dtype == bool
  assert batch["valid"].dtype == bool and batch["valid"].all()
  assert batch["image_id"].dtype.kind == "S" and batch["image_id"].shape == (8,)
  assert batch["label"].min() >= 0 and batch["label"].max() < 4
  assert not batch["bboxes_valid"][:, 1:].any() and (batch["bboxes"][:, 1:] == 0).all()
  first = batch["bboxes"][batch["bboxes_valid"]]
  assert (first[:, 2] > first[:, 0]).all() and (first >= 0).all() and (first <= SIZE).all()


def test_same_seed_same_batches_and_restart_from_state(cfg):
  make = lambda seed: pipeline.make_train_loader(cfg, 8, seed=seed, shard_index=0, shard_count=1)
  _assert_batches_equal(_take(make(1), 10), _take(make(1), 10))
  other = _take(make(2), 1)[0]
  assert not np.array_equal(other["image_id"], _take(make(1), 1)[0]["image_id"])

  it = iter(make(1))
  _take(it, 4)
  state = json.loads(json.dumps(it.get_state()))  # Survives a JSON round trip.
  expected = _take(it, 10)  # Crosses an epoch boundary (60 examples = 7.5 batches).
  resumed = iter(make(1))
  resumed.set_state(state)
  _assert_batches_equal(_take(resumed, 10), expected)


def test_iterator_state_in_an_orbax_checkpoint(cfg, tmp_path):
  ocp = pytest.importorskip("orbax.checkpoint")
  import grain.python as grain  # pylint: disable=g-import-not-at-top
  loader = pipeline.make_train_loader(cfg, 8, seed=4, shard_index=0, shard_count=1)
  it = iter(loader)
  _take(it, 3)
  manager = ocp.CheckpointManager(tmp_path / "ckpt", item_names=("data",))
  manager.save(3, args=ocp.args.Composite(data=grain.PyGrainCheckpointSave(it)))
  manager.wait_until_finished()
  expected = _take(it, 2)
  resumed = iter(loader)
  manager.restore(3, args=ocp.args.Composite(data=grain.PyGrainCheckpointRestore(resumed)))
  _assert_batches_equal(_take(resumed, 2), expected)


def test_epochs_cover_the_split_and_reshuffle(cfg):
  loader = pipeline.make_train_loader(cfg, 10, seed=0, shard_index=0, shard_count=1, num_epochs=2)
  batches = list(loader)
  assert len(batches) == 2 * N_TRAIN // 10
  ids = [b for batch in batches for b in batch["image_id"]]
  first, second = ids[:N_TRAIN], ids[N_TRAIN:]
  assert len(set(first)) == N_TRAIN and set(first) == set(second)
  assert first != second  # A new order each epoch.


def test_two_processes_get_disjoint_shards_covering_the_split(cfg):
  seen = []
  for shard in range(2):
    loader = pipeline.make_train_loader(cfg, 10, seed=0, shard_index=shard, shard_count=2,
                                        num_epochs=1)
    seen.append({i for batch in loader for i in batch["image_id"]})
  assert not seen[0] & seen[1]
  assert len(seen[0] | seen[1]) == N_TRAIN


def test_eval_loader_pads_masks_and_shards(cfg):
  per_shard = []
  for shard in range(2):
    loader = pipeline.make_eval_loader(cfg, 4, shard_index=shard, shard_count=2)
    batches = list(loader)
    assert len(batches) == len(loader) == 4  # ceil(ceil(27 / 2) / 4): the same on both shards.
    valid = np.concatenate([b["valid"] for b in batches])
    assert valid.sum() == loader.num_examples
    assert valid[:loader.num_examples].all()  # Padding only at the end.
    pad = np.concatenate([b["image"] for b in batches])[~valid]
    assert not pad.any()
    ids = np.concatenate([b["image_id"] for b in batches])
    assert (ids[~valid] == b"").all()
    per_shard.append(set(ids[valid]))
    _assert_batches_equal(batches, list(loader))  # Deterministic, re-iterable.
  assert not per_shard[0] & per_shard[1]
  assert len(per_shard[0] | per_shard[1]) == N_TEST


def test_eval_modes_and_masks(cfg):
  ten = next(iter(pipeline.make_eval_loader(cfg, 3, eval_mode="ten_crop", shard_index=0,
                                            shard_count=1)))
  assert ten["image"].shape == (3, 10, SIZE, SIZE, 3)
  assert ten["bboxes"].shape == (3, 10, cfg.max_boxes, 4)
  with_mask = cfg.copy_and_resolve_references()
  with_mask.with_mask = True
  batch = next(iter(pipeline.make_eval_loader(with_mask, 6, shard_index=0, shard_count=1)))
  assert batch["mask"].shape == (6, SIZE, SIZE) and batch["mask"].dtype == np.uint8
  for mask, box in zip(batch["mask"], batch["bboxes"][:, 0]):
    ys, xs = np.nonzero(mask > 127)  # The whole-object mask fills its box (1 px resize slack).
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box, atol=1.0)


def test_loader_errors(cfg):
  with pytest.raises(ValueError, match="fewer than batch_size=64"):
    pipeline.make_train_loader(cfg, 64, seed=0, shard_index=0, shard_count=2)
  with pytest.raises(ValueError, match="shard_index=2"):
    pipeline.make_train_loader(cfg, 4, seed=0, shard_index=2, shard_count=2)
  bad = cfg.copy_and_resolve_references()
  bad.name = "mnist"
  with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
    pipeline.num_classes(bad)
  bad = cfg.copy_and_resolve_references()
  bad.eval_mode = "five_crop"
  with pytest.raises(ValueError, match="eval_mode='five_crop'"):
    pipeline.make_eval_loader(bad, 4, shard_index=0, shard_count=1)


def test_two_workers_give_the_same_batches(cfg):
  """Workers transform single examples; batches (and a restart from state) match 0 workers."""
  make = lambda workers: pipeline.make_train_loader(cfg, 8, seed=3, shard_index=0, shard_count=1,
                                                    worker_count=workers)
  expected = _take(make(0), 9)
  it = iter(make(2))
  got = _take(it, 4)
  state = it.get_state()
  got += _take(it, 5)
  _assert_batches_equal(got, expected)
  it.close()
  resumed = iter(make(2))
  resumed.set_state(state)
  _assert_batches_equal(_take(resumed, 5), expected[4:])
  resumed.close()
