"""SLT-Net's ten-crop classification (the paper's test protocol): the system group classifies the
batch's ten crops when configured, one view at a time with the numbers of one pass over all crops,
and ``infer`` on new photos (no crops) classifies once."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import slt_testlib
from wsol_jax.methods.slt import method as slt_lib
from wsol_jax.models import heads
from wsol_jax.training import memory


def _ten_crop_method():
  config = slt_testlib.tiny_config(vst_weight=0.0)
  config.slt.classifier.ten_crop = True
  config.data.eval_ten_crop_images = True
  method = slt_lib.SLTNet(config, slt_testlib.INFO)
  batch = slt_testlib.batches(1)[0]
  crops = np.random.default_rng(1).integers(0, 256, (slt_testlib.BATCH, 10, 16, 16, 3), np.uint8)
  return method, method.init_state(jax.random.key(0), batch), batch, crops


def _one_pass_over_all_crops(method, state, crops_uint8):
  """The ten-crop score as one classifier pass over all B x 10 crops: log mean softmax [B, C]."""
  variables = {"params": state.params["classifier"],
               "batch_stats": state.batch_stats["classifier"]}
  n, k = crops_uint8.shape[:2]
  logits = method.classifier().apply(
      variables, heads.model_input(crops_uint8.reshape(n * k, *crops_uint8.shape[2:])),
      train=False).reshape(n, k, -1)
  return jnp.log(jnp.mean(jax.nn.softmax(logits, -1), axis=1) + 1e-12)


def test_slt_system_classifies_the_batch_ten_crops():
  config = slt_testlib.tiny_config(vst_weight=0.0)
  config.slt.classifier.ten_crop = True
  with pytest.raises(ValueError, match="eval_ten_crop_images"):
    slt_lib.SLTNet(config, slt_testlib.INFO)
  method, state, batch, crops = _ten_crop_method()
  preds = jax.jit(method.predict)(state, {"image": batch["image"], "label": batch["label"],
                                          "image_ten_crop": crops})
  want = jax.jit(lambda s, c: _one_pass_over_all_crops(method, s, c))(state, crops)
  np.testing.assert_allclose(np.asarray(preds["system"]["logits"]), np.asarray(want), rtol=1e-6)


def test_ten_crop_runs_one_view_at_a_time_with_the_numbers_of_one_pass():
  """The views run one after another (lax.map): the same numbers as one pass over all B x 10
  crops (to float32 rounding: XLA:CPU's convolutions may round a batch of B and of 10 B rows
  differently in the last bit, measured 2.4e-7 here) with a fraction of its temporaries."""
  method, state, _, crops = _ten_crop_method()
  chunked = jax.jit(lambda s, c: method.classify(s, None, c))
  one_pass = jax.jit(lambda s, c: _one_pass_over_all_crops(method, s, c))
  np.testing.assert_allclose(np.asarray(chunked(state, crops)), np.asarray(one_pass(state, crops)),
                             rtol=1e-6, atol=0)
  temporaries = [memory.program_memory(f.lower(state, crops).compile()).temporaries
                 for f in (chunked, one_pass)]
  assert temporaries[0] < temporaries[1] / 2, temporaries


def test_slt_infer_on_new_photos_classifies_once_when_ten_crop_is_configured():
  config = slt_testlib.tiny_config(vst_weight=0.0)
  config.slt.classifier.ten_crop = True
  config.data.eval_ten_crop_images = True
  method = slt_lib.SLTNet(config, slt_testlib.INFO)
  batch = slt_testlib.batches(1)[0]
  state = method.init_state(jax.random.key(0), batch)
  out = jax.jit(method.infer)(state, batch["image"])
  want = method.classifier().apply({"params": state.params["classifier"],
                                    "batch_stats": state.batch_stats["classifier"]},
                                   heads.model_input(batch["image"]))
  np.testing.assert_allclose(np.asarray(out["logits"]), np.asarray(want), rtol=1e-5, atol=1e-5)
