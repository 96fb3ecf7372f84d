"""LCHP's steps (the EMA formula, the tau gate, the refine stage's bookkeeping, the Fig. 2 PNG), and
the whole method on the real loop: both stages, a crash mid-refine resumed, ``--mode=eval``."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from lchp_testlib import fake_batch, load_config, loop_config, tiny_config
from wsol_jax.training import checkpoints as ckpt_lib
from wsol_jax.training import loop as train
from wsol_jax.training import method as base
from wsol_jax.methods.lchp import losses as lchp_losses
from wsol_jax.methods.lchp import method as lchp


@pytest.fixture(scope="module")
def method_and_state():
  config = tiny_config()
  method = lchp.LCHP(config, base.RunInfo(num_classes=3, steps_per_epoch=2, train_size=16))
  state = method.init_state(jax.random.key(0), fake_batch())
  return method, state


def test_stages_follow_the_config():
  config = tiny_config()
  info = base.RunInfo(num_classes=3, steps_per_epoch=2, train_size=16)
  assert [(s.name, s.num_steps) for s in lchp.LCHP(config, info).stages()] == [("init", 2),
                                                                                ("refine", 2)]
  config.lchp.run_refine = False
  assert [s.name for s in lchp.LCHP(config, info).stages()] == ["init"]
  config.lchp.attention_source = "cam"
  with pytest.raises(ValueError, match="attention_source"):
    lchp.LCHP(config, info)


@pytest.mark.parametrize("name, epochs, delta, refine_lr", [
    ("cub_lchp", (40, 40), 0.7, 2e-3), ("tiny_imagenet_lchp", (40, 40), 0.8, 2e-3),
    ("imagenet_lchp", (10, 5), 0.7, 2e-4)])
def test_paper_configs(name, epochs, delta, refine_lr):
  config = load_config(name)
  method = lchp.LCHP(config, base.RunInfo(num_classes=200, steps_per_epoch=10, train_size=320))
  assert [(s.name, s.num_steps) for s in method.stages()] == [("init", epochs[0] * 10),
                                                              ("refine", epochs[1] * 10)]
  assert (config.lchp.delta, config.lchp.stage_train.refine.lr, config.lchp.tau) == (
      delta, refine_lr, 0.9)
  assert config.lchp.delta_images_per_class == 0  # the paper's fixed delta, not re-chosen
  assert config.lchp.refine_images == "augmented"  # "general augmentation is used to generate I_r"
  assert (config.train.lr, config.train.weight_decay, config.train.batch_size) == (2e-3, 1e-5, 32)
  assert (config.data.resize_size, config.data.image_size) == (512, 448)
  assert config.model.backbone == "inception_v3"
  assert dict(config.train.schedule_overrides) == {"regressor": "constant"}


def test_ema_follows_its_formula_after_every_step(method_and_state):
  method, state = method_and_state
  beta = method.lchp.ema_decay
  step = jax.jit(lambda s, b: method.train_step(s, b, jax.random.key(1), stage="init"))
  ema = state.ema_params
  for i in range(2):
    new, metrics = step(state, fake_batch(i))
    assert np.isfinite(float(metrics["loss"]))
    want = jax.tree.map(lambda e, p: beta * e + (1 - beta) * p, ema,
                        {"params": new.params["classifier"],
                         "batch_stats": new.batch_stats["classifier"]})
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 new.ema_params, want)
    # theta2 differs from theta1 once theta1 moves.
    leaf = lambda t: jax.tree.leaves(t)[0]
    assert not np.allclose(leaf(new.ema_params["params"]), leaf(new.params["classifier"]))
    state, ema = new, new.ema_params
  assert float(state.extras["counts"]["seen"]) == 16.0  # two steps of one epoch, counted


def test_refine_loss_rows_below_tau_have_exactly_zero_gradient():
  pred = jax.random.uniform(jax.random.key(0), (4, 4))
  target = jax.random.uniform(jax.random.key(1), (4, 4))
  keep = jnp.asarray([True, False, True, False])
  grad = jax.grad(lchp_losses.refine_loss)(pred, target, keep)
  np.testing.assert_array_equal(grad[1], 0.0)
  np.testing.assert_array_equal(grad[3], 0.0)
  assert np.all(np.asarray(grad[0]) != 0.0)
  # Eq. 6 divides by N, not by the number kept.
  want = np.sum(np.square(pred - target)[np.asarray(keep)]) / 4
  np.testing.assert_allclose(lchp_losses.refine_loss(pred, target, keep), want, rtol=1e-6)
  # Garbage (even NaN) in a dropped row changes nothing.
  bad = target.at[1].set(jnp.nan)
  np.testing.assert_array_equal(jax.grad(lchp_losses.refine_loss)(pred, bad, keep), grad)


def test_refine_step_with_nothing_above_tau_has_zero_gradient(method_and_state):
  method, state = method_and_state
  state = method.enter_stage(state, "refine")
  for tau, expect_zero in ((1.0, True), (-1.0, False)):
    method.lchp.tau = tau  # softmax confidences are <= 1: tau = 1 keeps none, tau = -1 keeps all
    new, metrics = jax.jit(lambda s, b: method.train_step(s, b, jax.random.key(2),
                                                           stage="refine"))(state, fake_batch())
    assert (float(metrics["grad_norm"]) == 0.0) == expect_zero
    assert (float(metrics["loss"]) == 0.0) == expect_zero
    assert float(metrics["kept_frac"]) == (0.0 if expect_zero else 1.0)
    # The classifier is frozen in this stage, bit for bit.
    jax.tree.map(np.testing.assert_array_equal, new.params["classifier"],
                 state.params["classifier"])
    counts = {k: float(v) for k, v in new.extras["counts"].items()}
    assert counts["seen"] == 8.0 and counts["kept"] == (0.0 if expect_zero else 8.0)
  method.lchp.tau = 0.9


def test_predict_groups_and_fig2_png(method_and_state, tmp_path):
  method, state = method_and_state
  batch = fake_batch()
  preds = jax.jit(method.predict)(state, batch)
  assert set(preds) == {"lchp", "pseudo_label"}
  refine_state = method.enter_stage(state, "refine")
  preds = jax.jit(method.predict)(refine_state, batch)
  assert set(preds) == {"lchp", "lchp_i", "pseudo_label"}
  for group in preds.values():
    boxes = np.asarray(group["boxes"])
    assert boxes.shape == (8, 4) and (boxes >= 0).all() and (boxes <= 1).all()
    assert (boxes[:, 2:] >= boxes[:, :2]).all()
  # write_figures (the Method contract): config.eval.figure_images images, 0 = no figure.
  with method.config.unlocked():
    method.config.eval.figure_images = 0
  assert method.write_figures(refine_state, batch, str(tmp_path), "none") == []
  with method.config.unlocked():
    method.config.eval.figure_images = 4
  [path] = method.write_figures(refine_state, batch, str(tmp_path), "fig2")
  image = np.asarray(Image.open(path))
  assert image.ndim == 3 and image.shape[2] == 3
  # Ground truth in red and the pseudo-label in yellow are drawn.
  assert ((image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] < 60)).any()
  assert ((image[..., 0] > 200) & (image[..., 1] > 200) & (image[..., 2] < 30)).any()


# ----------------------------------------------------------------------------------------------
# The real loop.


class SimulatedCrash(RuntimeError):
  pass


@pytest.mark.slow
def test_both_stages_resume_mid_refine_and_eval_reproduces(tmp_path, monkeypatch):
  config = loop_config(tmp_path / "tfds")
  config.train.keep_checkpoints = 1  # saved every 2 steps: 2, 4 (end of init), 6, 8
  reference = train.train_and_evaluate(config, str(tmp_path / "reference"))
  for key in ("gt_known_loc", "lchp_i/gt_known_loc", "pseudo_label/gt_known_loc", "top1_cls"):
    assert key in reference
  assert (tmp_path / "reference" / "figures" / "lchp_refine_step8.png").is_file()

  config.eval.figure_images = 0  # figures never change results; save their compiles below
  save = ckpt_lib.Checkpoints.save

  def save_then_crash(self, step, *args, **kwargs):
    save(self, step, *args, **kwargs)
    if step == 6:  # the middle of the refine stage (steps 4..8)
      raise SimulatedCrash(f"crash after saving step {step}")

  workdir = tmp_path / "interrupted"
  monkeypatch.setattr(ckpt_lib.Checkpoints, "save", save_then_crash)
  with pytest.raises(SimulatedCrash):
    train.train_and_evaluate(config, str(workdir))
  monkeypatch.undo()
  assert not (workdir / "results.json").exists()
  resumed = train.train_and_evaluate(config, str(workdir))
  assert resumed == reference

  written = json.loads((workdir / "results.json").read_text())
  assert train.evaluate_checkpoint(config, str(workdir)) == written
  # --mode=visualize draws the Fig. 2 grid of the last checkpoint.
  config.eval.figure_images = 2
  assert train.visualize_checkpoint(config, str(workdir)) == [
      str(workdir / "figures" / "lchp_step8.png")]
  assert (workdir / "figures" / "lchp_step8.png").stat().st_size > 0

  # The end of the init stage (step 4) outlives keep_checkpoints, so lchp.init_from can refine
  # the LCHP-I of a whole run; a run that never finished its init stage is refused.
  assert ckpt_lib.Checkpoints(str(workdir / "checkpoints"), read_only=True).all_steps() == [4, 8]
  config.lchp.init_from = str(workdir)
  refined = train.train_and_evaluate(config, str(tmp_path / "from_whole_run"))
  assert refined["lchp_i/gt_known_loc"] == reference["lchp_i/gt_known_loc"]
  config.lchp.init_from = str(tmp_path / "from_whole_run")  # a refine-only run: no init stage
  with pytest.raises(ValueError, match="is the end of an init stage"):
    train.train_and_evaluate(config, str(tmp_path / "from_refine_only"))


@pytest.mark.slow
def test_refine_from_an_init_run_evaluates_from_its_checkpoint(tmp_path):
  config = loop_config(tmp_path / "tfds")
  config.eval.figure_images = 0
  config.lchp.run_refine = False
  init_dir = tmp_path / "init"
  init = train.train_and_evaluate(config, str(init_dir))
  config.lchp.run_refine = True
  config.lchp.init_from = str(init_dir)
  config.lchp.tau = 0.0
  refined = train.train_and_evaluate(config, str(tmp_path / "refine"))
  assert refined["lchp_i/gt_known_loc"] == init["gt_known_loc"]  # LCHP-I is the init run's
  assert train.evaluate_checkpoint(config, str(tmp_path / "refine")) == refined
