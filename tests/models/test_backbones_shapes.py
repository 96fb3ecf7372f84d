"""Every paper-scale backbone at its paper resolution (shapes only, via jax.eval_shape): the feature
map the heads read, the options that change it, bf16 compute with float32 variables, bad options."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from wsol_jax.models import backbone_names, get_backbone


def _shapes(name, size, **kwargs):
  model = get_backbone(name, **kwargs)
  images = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
  out, variables = jax.eval_shape(
      lambda x: model.init_with_output(jax.random.PRNGKey(0), x, train=False), images)
  return variables, out


@pytest.mark.parametrize("name,size,kwargs,expected", [
    ("vgg16", 224, {}, (14, 14, 512)),  # conv5_3 without pool5
    ("vgg16", 224, {"large_feature_map": True}, (28, 28, 512)),
    ("inception_v3", 299, {}, (17, 17, 768)),  # Mixed_6e
    ("inception_v3", 299, {"large_feature_map": True}, (35, 35, 768)),
    ("resnet50", 224, {}, (14, 14, 2048)),  # layer4 at stride 1 (wsolevaluation)
    ("resnet50", 224, {"stage_strides": (1, 2, 2, 2)}, (7, 7, 2048)),
    ("densenet161", 224, {"transition3_pool": False}, (14, 14, 2208)),  # default: 7x7
    ("mobilenet_v1_075", 224, {}, (7, 7, 768)),
    ("mobilenet_v1", 224, {"width": 0.5, "last_stride": 1}, (14, 14, 512)),
])
def test_feature_maps_at_paper_resolution_in_bfloat16(name, size, kwargs, expected):
  variables, out = _shapes(name, size, dtype="bfloat16", **kwargs)
  assert out.shape == (2, *expected)
  assert out.dtype == jnp.bfloat16
  assert {a.dtype for a in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}


# (The ImageNet logits of every family are checked against PyTorch in test_backbones_torch.py.)
@pytest.mark.parametrize("name,size,pre_logits", [("vgg16", 224, 4096), ("resnet50", 224, 2048),
                                                  ("mobilenet_v1_100", 224, 1024)])
def test_classifier_outputs(name, size, pre_logits):
  assert _shapes(name, size, output="pre_logits")[1].shape == (2, pre_logits)
  assert _shapes(name, size, output="logits", num_classes=7)[1].shape == (2, 7)


def test_registered_names():
  assert {"vgg16", "inception_v3", "resnet50", "densenet161", "mobilenet_v1", "mobilenet_v1_050",
          "mobilenet_v1_075", "mobilenet_v1_100"} <= set(backbone_names())


@pytest.mark.parametrize("name,kwargs,message", [
    ("vgg16", {"output": "cam"}, "output must be one of"),
    ("mobilenet_v1", {"width": 0.6}, "width must be one of"),
    ("resnet50", {"input_norm": "caffe"}, "input_norm must be one of"),
    ("densenet161", {"dtype": "float8"}, "unknown dtype"),
])
def test_bad_options_are_one_line_errors(name, kwargs, message):
  with pytest.raises(ValueError, match=message):
    _shapes(name, 64, **kwargs)
