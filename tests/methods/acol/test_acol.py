"""ACoL: erasing by branch A's normalised map of the label, branch B on the erased map, the fused
map, evaluation without labels, the two-branch loss and one-line config errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax import config_defaults
from wsol_jax.methods import acol
from wsol_jax.methods.acol import config as acol_config
from wsol_jax.methods.acol import losses, network
from wsol_jax.training import method as base

NUM_CLASSES, SIZE = 3, 16
INFO = base.RunInfo(num_classes=NUM_CLASSES, steps_per_epoch=1, train_size=4)


def tiny_config(**acol_fields):
  config = config_defaults.get_base_config()
  config.method = "acol"
  config.data.image_size = SIZE
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.acol = acol_config.default_config()
  config.acol.channels = 8
  for key, value in acol_fields.items():
    config.acol[key] = value
  return config


def batch(n=4, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8),
          "label": np.arange(n, dtype=np.int32) % NUM_CLASSES}


@pytest.fixture(name="trained")
def fixture_trained():
  method = acol.ACoL(tiny_config(), INFO)
  data = batch()
  return method, method.init_state(jax.random.key(0), data), data


def test_erased_cells_are_those_where_the_labels_normalised_map_reaches_the_threshold():
  maps = np.zeros((2, 2, 3, 2), np.float32)
  maps[0, ..., 0] = [[0, 1, 2], [3, 4, 10]]  # normalised: 0, .1, .2, .3, .4, 1
  maps[0, ..., 1] = [[9, 0, 0], [0, 0, 0]]  # another class's map: not read for label 0
  maps[1, ..., 1] = [[-1, 7, 5], [1, 3, 6]]  # normalised: 0, 1, .75, .25, .5, .875
  mask = network.erase_mask(jnp.asarray(maps), jnp.asarray([0, 1]), 0.4)
  np.testing.assert_array_equal(mask, [[[0, 0, 0], [0, 1, 1]], [[0, 1, 1], [0, 1, 1]]])


def test_branch_b_reads_the_features_zeroed_exactly_at_the_erased_cells():
  head = network.AcolHead(NUM_CLASSES, channels=8, erase_threshold=0.5)
  features = jax.random.normal(jax.random.key(1), (2, 5, 5, 6))
  labels = jnp.asarray([2, 0])
  variables = head.init(jax.random.key(2), features, labels)
  out = head.apply(variables, features, labels)
  expected = network.erase_mask(out["class_maps_a"], labels, 0.5)
  np.testing.assert_array_equal(out["erased"], expected)
  assert 0 < int(expected.sum()) < expected.size  # some cells erased, not all
  erased_features = np.where(np.asarray(expected)[..., None], 0.0, np.asarray(features))
  branch_b = network.AcolBranch(NUM_CLASSES, channels=8)
  maps_b = branch_b.apply({"params": variables["params"]["branch_b"]}, erased_features)
  np.testing.assert_allclose(out["class_maps_b"], maps_b, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out["logits_b"], maps_b.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out["logits"], out["class_maps_a"].mean(axis=(1, 2)), rtol=1e-5)
  # Another label erases by its own map.
  other = head.apply(variables, features, jnp.asarray([1, 1]))
  np.testing.assert_array_equal(other["erased"],
                                network.erase_mask(out["class_maps_a"], jnp.asarray([1, 1]), 0.5))


def test_fused_map_is_the_max_of_both_normalised_maps(trained):
  a = np.zeros((1, 2, 2, 2), np.float32)
  b = np.zeros((1, 2, 2, 2), np.float32)
  a[0, ..., 1] = [[0, 1], [2, 3]]  # 0, 1/3, 2/3, 1
  b[0, ..., 1] = [[5, 1], [1, 1]]  # 1, 0, 0, 0
  method, _, _ = trained
  fused = method.class_map({"class_maps_a": a, "class_maps_b": b}, jnp.asarray([1]))
  np.testing.assert_allclose(fused, [[[1, 1 / 3], [2 / 3, 1]]], rtol=1e-6)


def test_evaluation_needs_no_label_and_predict_erases_by_the_gt(trained):
  method, state, data = trained
  # pylint: disable=protected-access
  out = method.infer(state, data["image"])
  top1 = jnp.argmax(out["logits"], -1)
  with_top1 = method.eval_outputs(state, data["image"], top1)
  np.testing.assert_allclose(out["scoremap"], method.class_map(with_top1, top1), rtol=1e-5)
  assert out["scoremap"].shape == (4, SIZE // 2, SIZE // 2)
  predicted = method.predict(state, data)["localizer"]
  with_gt = method.eval_outputs(state, data["image"], data["label"])
  np.testing.assert_allclose(predicted["cam_gt"], method.class_map(with_gt, data["label"]),
                             rtol=1e-5)
  np.testing.assert_allclose(predicted["logits"], out["logits"], rtol=1e-5)  # branch A's


def test_loss_is_the_sum_of_both_branches_cross_entropy():
  logits_a = np.asarray([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)
  logits_b = np.asarray([[0.3, 0.0, 0.1], [2.0, 2.0, 2.0]], np.float32)
  labels = np.asarray([1, 0])

  def ce(logits):
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -log_softmax[np.arange(2), labels].mean()

  np.testing.assert_allclose(losses.acol_loss(logits_a, logits_b, labels),
                             ce(logits_a) + ce(logits_b), rtol=1e-6)


def test_parameters_fall_in_the_backbone_and_head_lr_groups(trained):
  _, state, _ = trained
  assert set(state.params["localizer"]) == {"backbone", "head"}
  head = state.params["localizer"]["head"]
  assert set(head) == {"branch_a", "branch_b"}
  assert head["branch_a"]["conv1"]["kernel"].shape == (3, 3, 8, 8)
  assert head["branch_a"]["classifier"]["kernel"].shape == (1, 1, 8, NUM_CLASSES)


@pytest.mark.parametrize("field, value", [
    ("erase_threshold", 0.0), ("erase_threshold", 1.5),
    ("channels", -4), ("branch_init", "zeros")])
def test_bad_config_is_a_one_line_error(field, value):
  with pytest.raises(ValueError, match=rf"^config\.acol\.{field}=[^\n]*$"):
    acol.ACoL(tiny_config(**{field: value}), INFO)


def test_vgg_pre_branch_pools_max_then_average_the_map_before_both_branches():
  features = jax.random.normal(jax.random.key(3), (1, 4, 4, 2))
  pooled_head = network.AcolHead(NUM_CLASSES, channels=4, pre_branch_pools=True)
  variables = pooled_head.init(jax.random.key(4), features)
  padded = np.pad(np.asarray(features), ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  maxed = np.zeros((1, 4, 4, 2), np.float32)
  for i in range(4):
    for j in range(4):
      maxed[:, i, j] = padded[:, i:i + 3, j:j + 3].max(axis=(1, 2))
  zero_padded = np.pad(maxed, ((0, 0), (1, 1), (1, 1), (0, 0)))
  averaged = np.zeros_like(maxed)
  for i in range(4):
    for j in range(4):  # zero padding counts in the mean (PyTorch's count_include_pad)
      averaged[:, i, j] = zero_padded[:, i:i + 3, j:j + 3].sum(axis=(1, 2)) / 9
  plain_head = network.AcolHead(NUM_CLASSES, channels=4)
  np.testing.assert_allclose(pooled_head.apply(variables, features)["class_maps_a"],
                             plain_head.apply(variables, averaged)["class_maps_a"],
                             rtol=1e-5, atol=1e-6)
