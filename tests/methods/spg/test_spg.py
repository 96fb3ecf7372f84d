"""SPG: the guidance from its thresholds, the masked BCE, the taps, label-free evaluation, the VGG16
head's conv4 / conv5 initialised from the backbone's, and one-line config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import baseline_testlib
from wsol_jax.methods.spg import config as spg_config
from wsol_jax.methods.spg import losses, network
from wsol_jax.models import heads
from wsol_jax.training import method as base

IG = losses.IGNORED


def _method(**section_overrides):
  config = baseline_testlib.tiny_config("spg", **section_overrides)
  return base.get_method("spg")(config, baseline_testlib.INFO), config


def test_guidance_marks_foreground_background_and_ignored_pixels():
  attention = jnp.asarray([[[0.9, 0.71, 0.7, 0.3],
                            [0.05, 0.01, 0.009, 0.0]]])
  expected = [[[1, 1, IG, IG],
               [IG, IG, 0, 0]]]
  got = losses.guidance_labels(attention, high=0.7, low=0.01, min_foreground_pixels=2)
  np.testing.assert_array_equal(got, expected)


def test_too_little_foreground_falls_back_to_a_fraction_of_the_max():
  # One pixel above 0.7 (< 2 wanted): foreground becomes > 0.7 * 0.8 = 0.56.
  attention = jnp.asarray([[[0.8, 0.6, 0.5, 0.02]]])
  got = losses.guidance_labels(attention, high=0.7, low=0.05, min_foreground_pixels=2)
  np.testing.assert_array_equal(got, [[[1, 1, IG, 0]]])
  # Enough foreground: the threshold stays.
  got = losses.guidance_labels(attention, high=0.7, low=0.05, min_foreground_pixels=1)
  np.testing.assert_array_equal(got, [[[1, IG, IG, 0]]])


def test_background_wins_where_a_pixel_is_both():
  # The fallback threshold 0.7 * 0.1 = 0.07 is below low = 0.2: pixels under 0.2 stay background.
  attention = jnp.asarray([[[0.1, 0.08, 0.0]]])
  got = losses.guidance_labels(attention, high=0.5, low=0.2, min_foreground_pixels=30)
  np.testing.assert_array_equal(got, [[[0, 0, 0]]])


def test_masked_bce_equals_the_hand_value_and_ignores_ignored_pixels():
  logits = jnp.asarray([[[2.0, -1.0], [0.5, 123.0]]])
  guidance = jnp.asarray([[[1, 0], [1, IG]]])
  # -log sigmoid(2), -log(1 - sigmoid(-1)) = log(1 + e^-1), -log sigmoid(0.5), over 3 pixels.
  by_hand = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0)) + np.log1p(np.exp(-0.5))) / 3
  assert float(losses.masked_bce(logits, guidance)) == pytest.approx(by_hand, rel=1e-6)
  changed = logits.at[0, 1, 1].set(-50.0)  # an ignored pixel: no effect on value or gradient
  assert float(losses.masked_bce(changed, guidance)) == pytest.approx(by_hand, rel=1e-6)
  grad = jax.grad(losses.masked_bce)(logits, guidance)
  assert float(grad[0, 1, 1]) == 0.0
  assert float(losses.masked_bce(logits, jnp.full((1, 2, 2), IG))) == 0.0


def test_attention_is_the_label_map_normalised_and_a_flat_map_guides_nothing():
  class_maps = jnp.zeros((2, 2, 2, 3)).at[0, :, :, 1].set(jnp.asarray([[1.0, 3.0], [5.0, 9.0]]))
  attention, flat = losses.attention_of(class_maps, jnp.asarray([1, 2]), (2, 2))
  np.testing.assert_allclose(attention[0], [[0.0, 0.25], [0.5, 1.0]])
  np.testing.assert_array_equal(flat, [False, True])


def test_total_loss_is_cross_entropy_plus_three_guided_terms():
  method, config = _method()
  batch = baseline_testlib.synthetic_batch(4)
  state = method.init_state(jax.random.key(0), batch)
  images = heads.model_input(batch["image"])
  variables = {"params": state.params["localizer"], "batch_stats": state.batch_stats["localizer"]}

  @jax.jit
  def forward_and_loss(variables, images, labels):
    out, _ = method.train_forward(method.localizer(), variables, images, labels,
                                  {"dropout": jax.random.key(1)})
    loss, terms = losses.spg_loss(out, labels, images.shape[1:3],
                                  spg_config.thresholds(config.spg))
    return loss, terms, method.train_loss(out, labels)

  loss, terms, method_loss = forward_and_loss(variables, images, batch["label"])
  assert set(terms) == {"cls", "b2_attention", "b1_b2", "c_fused"}
  assert float(loss) == pytest.approx(sum(float(v) for v in terms.values()), rel=1e-6)
  assert float(method_loss) == pytest.approx(float(loss), rel=1e-6)


def test_the_taps_read_the_configured_blocks():
  """The branches read the blocks config.spg names: the maps tapped equal the backbone's own
  block outputs (recorded by a second, independent hook)."""
  config_kwargs = {"widths": (8, 16), "convs_per_stage": 2}
  layout = network.layout_for("small_vgg", config_kwargs, b1_block="conv1_1", b2_block="conv2_1")
  assert layout.tapped_blocks == ("conv1_1", "conv2_1")
  net = network.SPGNetwork("small_vgg", 4, layout, config_kwargs)
  images = jax.random.uniform(jax.random.key(2), (2, 16, 16, 3))
  variables = jax.jit(net.init)(jax.random.key(0), images)
  out = jax.jit(net.apply)(variables, images)
  recorder = network.BlockRecorder(("conv1_1", "conv2_1"))
  backbone = heads.make_backbone("small_vgg", dict(config_kwargs, block_hook=recorder))
  backbone.apply({"params": variables["params"]["backbone"],
                  "batch_stats": variables["batch_stats"]["backbone"]}, images, train=False)
  assert set(out["taps"]) == {"conv1_1", "conv2_1"}
  for name in ("conv1_1", "conv2_1"):
    np.testing.assert_allclose(out["taps"][name], recorder.maps[name], rtol=1e-6)
  # B1 reads conv1_1 at its resolution (no pool when a block is configured).
  assert out["logits_b1"].shape == (2, 16, 16) and out["logits_b2"].shape == (2, 8, 8)


def test_default_taps_per_backbone():
  assert network.layout_for("resnet50", {}).tapped_blocks == ("layer3_0", "layer3_5")
  inception = network.layout_for("inception_v3", {})
  assert inception.tapped_blocks == ("Mixed_5d", "Mixed_6d") and inception.b1_pool is not None
  assert network.layout_for("inception_v3", {"large_feature_map": True}).b1_pool is None
  assert network.layout_for("mobilenet_v1_075", {}).tapped_blocks == ("conv_pw_6", "conv_pw_11")
  assert network.layout_for("vgg16", {}).tapped_blocks == ("features_16",)
  assert network.layout_for("small_vgg", {"widths": (8, 16),
                                          "convs_per_stage": 1}).tapped_blocks == ("conv1_1",
                                                                                   "conv2_1")


def test_evaluation_needs_no_label():
  method, _ = _method()
  batch = baseline_testlib.synthetic_batch(4)
  state = method.init_state(jax.random.key(0), batch)
  out = method.infer(state, batch["image"])
  assert out["logits"].shape == (4, 4) and out["scoremap"].shape == (4, 16, 16)
  predicted = method.predict(state, batch)["localizer"]
  # The scored map is SPG-A's raw class map of the GT class.
  raw = method.localizer().apply({"params": state.params["localizer"],
                                  "batch_stats": state.batch_stats["localizer"]},
                                 heads.model_input(batch["image"]))["class_maps"]
  np.testing.assert_allclose(predicted["cam_gt"], network.take_class(raw, batch["label"]),
                             rtol=1e-6)


def test_vgg16_head_conv4_conv5_start_as_the_backbones():
  config = baseline_testlib.tiny_config("spg")
  config.model.backbone, config.model.backbone_kwargs = "vgg16", {}
  method = base.get_method("spg")(config, baseline_testlib.INFO)
  batch = {"image": np.zeros((1, 32, 32, 3), np.uint8), "label": np.zeros((1,), np.int32)}
  real = method.init_state(jax.random.key(0), batch).params["localizer"]
  assert real["head"]["a1_conv1"]["kernel"].shape == (3, 3, 256, 512)
  for head_conv, backbone_conv in network.VGG_MOVED_CONVS.items():
    np.testing.assert_array_equal(real["head"][head_conv]["kernel"],
                                  real["backbone"][backbone_conv]["kernel"])


@pytest.mark.parametrize("overrides,field", [
    ({"threshold_1l": 0.8}, "config.spg.threshold_1l"),
    ({"threshold_2h": 1.5}, "config.spg.threshold_2h"),
    ({"threshold_3l": 0.7}, "config.spg.threshold_3l"),
    ({"min_foreground_pixels": -1}, "config.spg.min_foreground_pixels"),
    ({"fallback_ratio": 0.0}, "config.spg.fallback_ratio"),
    ({"b1_block": "conv9_9"}, "config.spg.b1_block"),
    ({"c_channels": 0}, "config.spg.c_channels"),
])
def test_bad_config_is_a_one_line_error(overrides, field):
  with pytest.raises(ValueError) as error:
    _method(**overrides)
  message = str(error.value)
  assert field in message and "\n" not in message


def test_vgg16_refuses_configured_taps():
  config = baseline_testlib.tiny_config("spg", b2_block="features_22")
  config.model.backbone, config.model.backbone_kwargs = "vgg16", {}
  with pytest.raises(ValueError, match="config.spg.b1_block / b2_block"):
    base.get_method("spg")(config, baseline_testlib.INFO)


def test_the_section_is_at_wsolevaluation_defaults():
  section = spg_config.default_config()
  assert spg_config.thresholds(section) == ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1))
  assert (section.min_foreground_pixels, section.fallback_ratio) == (30, 0.7)


def test_figure_is_spg_tag_png(tmp_path):
  method, config = _method()
  with config.unlocked():
    config.eval.figure_images = 2
  batch = baseline_testlib.synthetic_batch(4)
  state = method.init_state(jax.random.key(0), batch)
  assert method.write_figures(state, batch, str(tmp_path), "t") == [str(tmp_path / "spg_t.png")]
