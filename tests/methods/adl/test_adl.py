"""ADL: the layer's maps on a hand-made feature map, its choice of map, the identity at evaluation,
where the layers sit per backbone, and one-line errors for bad ``config.adl`` values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import baseline_testlib
from configs import cub_adl_mobilenet
from wsol_jax.methods import common
from wsol_jax.methods.adl import ADL
from wsol_jax.methods.adl import config as adl_config
from wsol_jax.methods.adl import layer, positions

# Two images [2, 2, 3, 2]; channel means (the attention) image 0: [[0, 1, 2], [3, 4, 5]] (max 5),
# image 1: [[-1, -2, -3], [-4, -5, -6]] (max -1).
ATTENTION = np.array([[[0, 1, 2], [3, 4, 5]], [[-1, -2, -3], [-4, -5, -6]]], np.float32)
FEATURES = jnp.asarray(np.stack([ATTENTION - 1.0, ATTENTION + 1.0], axis=-1))


def apply_layer(drop_rate, threshold, key, train=True):
  return layer.ADLayer(drop_rate, threshold).apply({}, FEATURES, train,
                                                   rngs={"dropout": key})


def test_maps_on_a_hand_made_feature_map():
  attention = layer.self_attention(FEATURES)
  np.testing.assert_allclose(attention[..., 0], ATTENTION)
  mask = np.asarray(layer.drop_mask(attention, 0.8))[..., 0]
  # Hidden: attention >= 0.8 x max, per image (4 and 5 in image 0; -1 >= -0.8 is False: none in
  # image 1, whose threshold -0.8 lies above every cell).
  expected = np.ones_like(ATTENTION)
  expected[0, 1, 1:] = 0.0
  np.testing.assert_array_equal(mask, expected)
  np.testing.assert_array_equal(np.asarray(layer.drop_mask(attention, 0.2))[0],
                                (ATTENTION[0] < 1.0)[..., None])
  np.testing.assert_allclose(layer.importance_map(attention)[..., 0],
                             1.0 / (1.0 + np.exp(-ATTENTION)), rtol=1e-6)


def test_drop_rate_one_always_drops_and_zero_never():
  mask = layer.drop_mask(layer.self_attention(FEATURES), 0.8)
  importance = layer.importance_map(layer.self_attention(FEATURES))
  for seed in range(8):
    key = jax.random.key(seed)
    np.testing.assert_allclose(apply_layer(1.0, 0.8, key), FEATURES * mask)
    np.testing.assert_allclose(apply_layer(0.0, 0.8, key), FEATURES * importance)


def test_one_draw_for_the_whole_batch():
  """wsolevaluation draws ``torch.rand([])`` once per forward: every image gets the same map."""
  mask = layer.drop_mask(layer.self_attention(FEATURES), 0.8)
  dropped = 0
  for seed in range(32):
    out = apply_layer(0.5, 0.8, jax.random.key(seed))
    per_image = [bool(np.allclose(out[i], (FEATURES * mask)[i])) for i in range(2)]
    assert per_image[0] == per_image[1]
    dropped += per_image[0]
  assert 4 < dropped < 28  # both maps occur


def test_identity_at_evaluation():
  out = apply_layer(1.0, 0.8, jax.random.key(0), train=False)
  np.testing.assert_array_equal(out, FEATURES)
  assert layer.ADLayer().apply({}, FEATURES, False) is FEATURES  # no rng needed either


def tiny_method(**overrides):
  return ADL(baseline_testlib.tiny_config("adl", **overrides), baseline_testlib.INFO)


def test_eval_output_is_cams_and_parameters_are_cams():
  method = tiny_method()
  cam_localizer = common.build_localizer(method.config, baseline_testlib.INFO.num_classes)
  images = jax.random.uniform(jax.random.key(3), (2, 32, 32, 3))
  variables = cam_localizer.init(jax.random.key(0), images, train=False)
  adl_variables = method.localizer().init(jax.random.key(0), images, train=False)
  assert jax.tree.structure(adl_variables) == jax.tree.structure(variables)
  cam_out = cam_localizer.apply(variables, images, train=False)
  adl_out = method.localizer().apply(variables, images, train=False)
  for key in ("logits", "features", "cam_weights"):
    np.testing.assert_array_equal(adl_out[key], cam_out[key])
  # In training ADL changes the map (drop_rate 1: the drop mask hides the peak cells).
  train_out, _ = method.localizer().apply(variables, images, train=True, mutable=["batch_stats"],
                                          rngs={"dropout": jax.random.key(1)})
  assert not np.allclose(train_out["features"], cam_out["features"])


def adl_layer_paths(config):
  """The module paths of the ADL layers the method's localizer runs in training (traced only)."""
  method = ADL(config, baseline_testlib.INFO)
  size = config.data.image_size
  images = jnp.zeros((1, size, size, 3))
  model = method.localizer()

  def run():
    variables = model.init(jax.random.key(0), images, train=False)
    _, state = model.apply(variables, images, train=True, rngs={"dropout": jax.random.key(1)},
                           mutable=["batch_stats", "intermediates"],
                           capture_intermediates=lambda m, _: isinstance(m, layer.ADLayer))
    return state["intermediates"]

  captured = jax.eval_shape(run)
  return sorted("/".join(path) for path in call_paths(captured))


def call_paths(tree, prefix=()):
  """The paths of the modules under which ``capture_intermediates`` stored a ``__call__``."""
  for key, value in tree.items():
    if key == "__call__":
      yield prefix
    else:
      yield from call_paths(value, prefix + (key,))


BACKBONE_CASES = [
    ("vgg16", {}, 32, ["features_16", "features_22", "features_29"]),
    ("resnet50", {}, 32, ["layer3_0", "layer4_0", "layer4_2"]),
    ("inception_v3", {"large_feature_map": True}, 139, ["Mixed_5d", "Mixed_6e"]),
    ("mobilenet_v1_075", {"last_stride": 1}, 32, ["conv_pw_11", "conv_pw_13"]),
]


@pytest.mark.parametrize("backbone,kwargs,size,blocks", BACKBONE_CASES,
                         ids=[c[0] for c in BACKBONE_CASES])
def test_layers_sit_at_the_paper_positions(backbone, kwargs, size, blocks):
  config = baseline_testlib.tiny_config("adl")
  config.model.backbone, config.model.backbone_kwargs = backbone, kwargs
  config.data.image_size = size
  if backbone != "vgg16":  # one full trace is enough; the others check the resolved names
    assert ADL(config, baseline_testlib.INFO).positions == tuple(blocks)
    return
  paths = adl_layer_paths(config)
  assert paths == [f"backbone/adl_{b}" for b in sorted(blocks)], paths


def test_configured_positions_and_small_vgg_rule():
  assert tiny_method().positions == ("conv1_1", "conv2_1")  # the last of each stage
  config = baseline_testlib.tiny_config("adl", positions=("conv2_1",))
  assert adl_layer_paths(config) == ["backbone/adl_conv2_1"]
  # --config.adl.positions=conv1_1,conv2_1 arrives as one string in a tuple.
  assert tiny_method(positions=("conv1_1,conv2_1",)).positions == ("conv1_1", "conv2_1")
  three = baseline_testlib.tiny_config("adl")
  three.model.backbone_kwargs = {"widths": (4, 8, 8), "convs_per_stage": 2}
  assert ADL(three, baseline_testlib.INFO).positions == ("conv2_2", "conv3_2")


def test_cpu_recipe_resolves_the_mobilenet_positions():
  config = cub_adl_mobilenet.get_config()
  assert config.method == "adl" and config.adl.drop_rate == 0.75
  assert adl_config.check_config(config) == ("conv_pw_11", "conv_pw_13")


@pytest.mark.parametrize("overrides,field", [
    ({"drop_rate": 1.5}, "config.adl.drop_rate"),
    ({"drop_rate": -0.1}, "config.adl.drop_rate"),
    ({"threshold": 2.0}, "config.adl.threshold"),
    ({"positions": ("conv1_1", "features_16")}, "config.adl.positions"),
    ({"positions": ("conv2_1", "conv2_1")}, "config.adl.positions"),
])
def test_bad_values_are_one_line_errors(overrides, field):
  with pytest.raises(ValueError, match=field) as error:
    tiny_method(**overrides)
  assert "\n" not in str(error.value)


def test_backbone_without_default_positions_is_a_one_line_error(monkeypatch):
  monkeypatch.delitem(positions.PAPER_POSITIONS, "small_vgg")
  with pytest.raises(ValueError, match="config.adl.positions is empty") as error:
    tiny_method()
  assert "\n" not in str(error.value)
  assert tiny_method(positions=("conv2_1",)).positions == ("conv2_1",)


def test_layer_has_no_parameters():
  assert layer.ADLayer().init(jax.random.key(0), FEATURES, False) == {}


def test_figures_are_adl_tag_png(tmp_path):
  config = baseline_testlib.tiny_config("adl")
  config.eval.figure_images = 2
  method = ADL(config, baseline_testlib.INFO)
  batch = baseline_testlib.synthetic_batch(n=2)
  state = method.init_state(jax.random.key(0), batch)
  assert method.write_figures(state, batch, str(tmp_path), "t") == [str(tmp_path / "adl_t.png")]
  assert (tmp_path / "adl_t.png").stat().st_size > 0


def test_backbone_without_hooked_blocks_is_a_one_line_error():
  config = baseline_testlib.tiny_config("adl")
  config.model.backbone, config.model.backbone_kwargs = "densenet161", {}
  with pytest.raises(ValueError, match="config.adl.positions: backbone 'densenet161'") as error:
    ADL(config, baseline_testlib.INFO)
  assert "\n" not in str(error.value)
