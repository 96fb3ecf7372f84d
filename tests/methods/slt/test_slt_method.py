"""SLT-Net's steps: one compiled joint step (traced once under jit and pmap), the same numbers on
one device, an 8-device mesh and pmap, no gradient through the pseudo-box, the CAM baseline at
K = 1 / alpha = 1 / beta = 0, the classifier stage and the predictions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from slt_testlib import BATCH, CLASSES, INFO, SIZE, batches, tiny_config
from wsol_jax.training import parallel
from wsol_jax.methods.slt import method as slt_lib
from wsol_jax.methods.cam import CAM


def run_steps(method, runner, data, stage=slt_lib.LOCALIZATION, state=None, placed=False):
  """Runs the step over ``data``; returns (host state, metrics, number of traces)."""
  traces = []

  def step(s, b, r, axis_name):
    traces.append(1)  # Python runs only while tracing
    return method.train_step(s, b, r, stage=stage, axis_name=axis_name)

  state = state if state is not None else method.init_state(jax.random.key(0), data[0])
  state = state if placed else runner.place_state(state)
  compiled = runner.compile_step(step)
  metrics = []
  for batch in data:
    state, m = compiled(state, runner.shard_batch(batch), jax.random.key(1))
    metrics.append(runner.metrics_to_host(m))
  return jax.device_get(runner.checkpointable(state)), metrics, len(traces)


# A deterministic but real g: every image flipped and scaled by 1.25 (no colour jitter), so the
# per-device random keys of pmap draw the same transform as the global key of jit and the two
# layouts must agree; the step runs both passes, g', the top-K ACAM, the on-device pseudo-box and
# the regressor.
FIXED_G = dict(jitter__brightness=0.0, jitter__contrast=0.0, jitter__saturation=0.0,
               jitter__hue=0.0, jitter__flip_prob=1.0, jitter__scale_min=1.25,
               jitter__scale_max=1.25)


def pmap_native(runner, state):
  """The state with the sharding pmap's own outputs have (see the note in the test)."""
  return jax.pmap(lambda x: x, axis_name=parallel.PMAP_AXIS)(runner.place_state(state))


def test_joint_step_compiles_once_and_agrees_under_jit_mesh_and_pmap():
  data = batches(2)
  results = {}
  for name, runner in (("jit", parallel.JitRunner()), ("pmap", parallel.PmapRunner())):
    method = slt_lib.SLTNet(tiny_config(**FIXED_G), INFO)
    state = method.init_state(jax.random.key(0), data[0])
    if name == "pmap":
      # flax's replicate places arrays on a mesh named '_device_put_sharded' while pmap returns
      # them on one named after its axis; that sharding change alone retraces a pmapped step once
      # (the CAM step too). Starting from pmap's own layout shows what the step itself does.
      state = pmap_native(runner, state)
    results[name] = run_steps(method, runner, data, state=state, placed=name == "pmap")
    assert results[name][2] == 1, f"{name}: the joint step was traced {results[name][2]} times"
  (s_jit, m_jit, _), (s_pmap, m_pmap, _) = results["jit"], results["pmap"]
  assert set(m_jit[0]) >= {"loss", "loss_smt", "loss_vst", "loss_reg", "pseudo_box_iou50",
                           "grad_norm"}
  assert m_jit[0]["loss_vst"] > 0 and m_jit[0]["loss_reg"] > 0 and m_jit[0]["grad_norm"] > 0
  for got, want in zip(jax.tree.leaves(s_pmap.params), jax.tree.leaves(s_jit.params)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  for got, want in zip(m_pmap, m_jit):
    for k in got:
      np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)


def test_pseudo_box_carries_no_gradient():
  maps = jax.random.uniform(jax.random.key(0), (2, 4, 4))
  grad = jax.jit(jax.grad(lambda m: jnp.sum(slt_lib.pseudo_box_normalized_xyxy(m, (8, 8), 0.2))))(
      maps)
  np.testing.assert_array_equal(grad, 0.0)
  # In the step: the regressor's loss leaves the localizer's update unchanged.
  data = batches(1, seed=2)
  runner = parallel.JitRunner(devices=jax.devices()[:1])
  with_reg = slt_lib.SLTNet(tiny_config(vst_weight=0.0), INFO)
  without = slt_lib.SLTNet(tiny_config(vst_weight=0.0, regressor__weight=0.0), INFO)
  state0 = with_reg.init_state(jax.random.key(0), data[0])
  s1, m1, _ = run_steps(with_reg, runner, data, state=state0)
  s2, _, _ = run_steps(without, runner, data, state=state0)
  assert m1[0]["loss_reg"] > 0
  for a, b in zip(jax.tree.leaves(s1.params["localizer"]), jax.tree.leaves(s2.params["localizer"])):
    np.testing.assert_array_equal(a, b)
  moved = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(s1.params["regressor"]),
                                                     jax.tree.leaves(s2.params["regressor"]))]
  assert any(moved)


def test_k1_alpha1_without_vst_is_the_cam_baseline_step():
  data = batches(2, seed=3)
  runner = parallel.JitRunner(devices=jax.devices()[:1])
  config = tiny_config(smt_k=1, smt_alpha=1.0, vst_weight=0.0, topk_acam=False)
  config.slt.regressor.enabled = False
  config.slt.classifier.enabled = False
  slt_method = slt_lib.SLTNet(config, INFO)
  cam_method = CAM(config, INFO)
  cam_state = cam_method.init_state(jax.random.key(0), data[0])
  slt_state = slt_method.init_state(jax.random.key(0), data[0])
  slt_state = slt_state.replace(params=cam_state.params, batch_stats=cam_state.batch_stats,
                                opt_state=slt_method.tx_loc.init(cam_state.params))
  cam_after, cam_metrics, _ = run_steps(cam_method, runner, data, stage="train", state=cam_state)
  slt_after, slt_metrics, _ = run_steps(slt_method, runner, data, state=slt_state)
  for a, b in zip(jax.tree.leaves(cam_after.params), jax.tree.leaves(slt_after.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(cam_metrics[-1]["loss"], slt_metrics[-1]["loss"], rtol=1e-5)


def test_classifier_stage_trains_only_the_classifier_and_predict():
  config = tiny_config(vst_weight=0.0)
  config.slt.classifier.ten_crop = True
  config.data.eval_ten_crop_images = True
  method = slt_lib.SLTNet(config, INFO)
  assert [s.name for s in method.stages()] == ["localization", "classifier"]
  data = batches(2, seed=4)
  runner = parallel.JitRunner(devices=jax.devices()[:1])
  state = method.enter_stage(method.init_state(jax.random.key(0), data[0]), "classifier")
  after, metrics, _ = run_steps(method, runner, data, stage="classifier", state=state)
  for net in ("localizer", "regressor"):
    for a, b in zip(jax.tree.leaves(state.params[net]), jax.tree.leaves(after.params[net])):
      np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(state.params["classifier"]), jax.tree.leaves(after.params["classifier"])))
  crops = np.stack([data[0]["image"]] * 10, axis=1)  # the eval rows' ten crops
  preds = jax.jit(method.predict)(after, {"image": data[0]["image"], "label": data[0]["label"],
                                          "image_ten_crop": crops})
  assert preds["localizer"]["cam_gt"].shape == (BATCH, SIZE // 2, SIZE // 2)
  boxes = np.asarray(preds["system"]["boxes"])
  assert boxes.shape == (BATCH, 4) and boxes.min() >= 0 and boxes.max() <= 1
  assert np.all(boxes[:, 2] >= boxes[:, 0]) and np.all(boxes[:, 3] >= boxes[:, 1])
  probs = np.exp(np.asarray(preds["system"]["logits"]))
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-4)  # ten-crop: log mean softmax


def test_bad_config_values_are_one_line_errors():
  with pytest.raises(ValueError, match="vst_maps"):
    slt_lib.SLTNet(tiny_config(vst_maps="some"), INFO)
  with pytest.raises(ValueError, match="smt_k"):
    slt_lib.SLTNet(tiny_config(smt_k=CLASSES + 1), INFO)
  with pytest.raises(ValueError, match="hue"):
    slt_lib.SLTNet(tiny_config(jitter__hue=0.9), INFO)


@pytest.mark.parametrize("backbone, kwargs, want", [
    ("inception_v3", {"output": "features"}, 0.5),  # defaults to input_norm='inception'
    ("mobilenet_v1", {"width": 1.0, "last_stride": 1}, 0.5),  # the same
    ("small_vgg", {"widths": (4, 8), "convs_per_stage": 1}, None),  # 'imagenet': the mean
])
def test_vst_canvas_fill_is_the_colour_the_backbone_reads_as_zero(backbone, kwargs, want):
  """g's canvas is filled with the colour the localizer's input scaling maps to zero, asked of the
  backbone (a config that leaves ``input_norm`` to the backbone's default included)."""
  from wsol_jax.models import blocks  # pylint: disable=import-outside-toplevel
  config = tiny_config()
  config.model.backbone = backbone
  config.model.backbone_kwargs = kwargs
  fill = np.asarray(slt_lib.SLTNet(config, INFO).fill)
  want = np.asarray(blocks.IMAGENET_MEAN_RGB) if want is None else np.full((3,), want)
  np.testing.assert_allclose(fill, want, rtol=1e-6)
