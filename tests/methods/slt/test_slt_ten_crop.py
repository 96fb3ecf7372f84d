"""SLT-Net's ten-crop classification (the paper's test protocol): the system group classifies the
batch's ten crops when configured, and ``infer`` on new photos (no crops) classifies once."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import slt_testlib
from wsol_jax.methods.slt import method as slt_lib


def test_slt_system_classifies_the_batch_ten_crops():
  from wsol_jax.models import heads  # pylint: disable=import-outside-toplevel
  config = slt_testlib.tiny_config(vst_weight=0.0)
  config.slt.classifier.ten_crop = True
  with pytest.raises(ValueError, match="eval_ten_crop_images"):
    slt_lib.SLTNet(config, slt_testlib.INFO)
  config.data.eval_ten_crop_images = True
  method = slt_lib.SLTNet(config, slt_testlib.INFO)
  batch = slt_testlib.batches(1)[0]
  state = method.init_state(jax.random.key(0), batch)
  crops = np.random.default_rng(1).integers(0, 256, (slt_testlib.BATCH, 10, 16, 16, 3), np.uint8)
  preds = jax.jit(method.predict)(state, {"image": batch["image"], "label": batch["label"],
                                          "image_ten_crop": crops})
  variables = {"params": state.params["classifier"],
               "batch_stats": state.batch_stats["classifier"]}
  logits = method.classifier().apply(variables, heads.model_input(crops.reshape(-1, 16, 16, 3)),
                                     train=False).reshape(slt_testlib.BATCH, 10, -1)
  want = np.log(np.asarray(jax.nn.softmax(logits, -1)).mean(1) + 1e-12)
  np.testing.assert_allclose(np.asarray(preds["system"]["logits"]), want, rtol=1e-4, atol=1e-5)


def test_slt_infer_on_new_photos_classifies_once_when_ten_crop_is_configured():
  config = slt_testlib.tiny_config(vst_weight=0.0)
  config.slt.classifier.ten_crop = True
  config.data.eval_ten_crop_images = True
  method = slt_lib.SLTNet(config, slt_testlib.INFO)
  batch = slt_testlib.batches(1)[0]
  state = method.init_state(jax.random.key(0), batch)
  out = jax.jit(method.infer)(state, batch["image"])
  from wsol_jax.models import heads  # pylint: disable=import-outside-toplevel
  want = method.classifier().apply({"params": state.params["classifier"],
                                    "batch_stats": state.batch_stats["classifier"]},
                                   heads.model_input(batch["image"]))
  np.testing.assert_allclose(np.asarray(out["logits"]), np.asarray(want), rtol=1e-5, atol=1e-5)
