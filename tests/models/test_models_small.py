"""The small backbone, the CAM head and the localizer (shapes, parameter groups, CAM consistency)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wsol_jax.localization import scoremaps as cam_lib
from wsol_jax.models import heads, registry
from wsol_jax.models.small import SmallVGG
from loop_testlib import fast_cpu_random  # noqa: F401  (autouse fixture)


def _init(model, x, **kw):
  """One compiled init (op-by-op init compiles every initializer separately: slow on CPU)."""
  return jax.jit(lambda key: model.init(key, x, **kw))(jax.random.key(0))


def test_small_vgg_shapes_and_no_last_pool():
  net = SmallVGG(widths=(4, 8, 16), convs_per_stage=1)
  x = jnp.zeros((2, 32, 32, 3))
  variables = _init(net, x, train=False)
  y = jax.eval_shape(lambda v: net.apply(v, x, train=False), variables)
  assert y.shape == (2, 8, 8, 16)  # two pools for three stages
  assert "batch_stats" in variables
  assert "small_vgg" in registry.backbone_names()


def test_small_vgg_without_batch_norm_has_no_stats():
  net = SmallVGG(widths=(4,), convs_per_stage=2, batch_norm=False)
  variables = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)),
                                              train=False))
  assert "batch_stats" not in variables
  assert set(variables["params"]) == {"conv1_1", "conv1_2"}


def test_localizer_outputs_and_parameter_groups():
  model = heads.Localizer("small_vgg", num_classes=5, backbone_kwargs={"widths": (4, 8)},
                          head_channels=6)
  x = jax.random.uniform(jax.random.key(1), (3, 16, 16, 3))
  variables = _init(model, x, train=False)
  assert set(variables["params"]) == {"backbone", "head"}
  assert set(variables["params"]["head"]) == {"conv", "fc"}
  out = jax.jit(lambda v: model.apply(v, x, train=False))(variables)
  assert out["logits"].shape == (3, 5)
  assert out["features"].shape == (3, 8, 8, 6)
  np.testing.assert_array_equal(out["cam_weights"], variables["params"]["head"]["fc"]["kernel"])
  # GAP + FC is linear: the logits are the spatial means of the CAMs plus the bias.
  cams = cam_lib.class_activation_maps(out["features"], out["cam_weights"])
  bias = variables["params"]["head"]["fc"]["bias"]
  np.testing.assert_allclose(cams.mean(axis=(1, 2)) + bias, out["logits"], rtol=1e-5, atol=1e-5)


def test_make_backbone_passes_only_supported_fields():
  small = heads.make_backbone("small_vgg", {"widths": (4,)}, dtype=jnp.bfloat16,
                              bn_axis_name="batch")
  assert small.dtype == jnp.bfloat16 and small.bn_axis_name == "batch"
  vgg = heads.make_backbone("vgg16", {}, dtype=jnp.bfloat16, bn_axis_name="batch")
  assert vgg.dtype == jnp.bfloat16 and not hasattr(vgg, "bn_axis_name")
  with pytest.raises(ValueError, match="unknown backbone"):
    heads.make_backbone("no_such_net")


def test_bfloat16_compute_keeps_float32_params_and_logits():
  model = heads.Localizer("small_vgg", 3, backbone_kwargs={"widths": (4,)}, head_channels=4,
                          dtype=jnp.bfloat16)
  x = jnp.ones((1, 8, 8, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables["params"]))
  out = jax.eval_shape(lambda v: model.apply(v, x), variables)
  assert out["logits"].dtype == jnp.float32 and out["features"].dtype == jnp.float32


def test_vgg16_cam_localizer_shapes_abstractly():
  """CAM-VGG16: conv5_3 without pool5 (14x14 at 224), conv 3x3/1024 + ReLU, GAP, FC."""
  model = heads.Localizer("vgg16", num_classes=200, head_channels=1024)
  x = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape)))
  head = variables["params"]["head"]
  assert head["conv"]["kernel"].shape == (3, 3, 512, 1024)
  assert head["fc"]["kernel"].shape == (1024, 200)
  out = jax.eval_shape(lambda v: model.apply(v, jnp.zeros(x.shape)), variables)
  assert out["features"].shape == (1, 14, 14, 1024)
  assert out["logits"].shape == (1, 200)
