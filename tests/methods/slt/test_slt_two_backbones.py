"""SLT-Net with two backbones in its joint step: the paper's pseudo-box localizer per dataset (VGG16
for CUB, InceptionV3 for ImageNet, Sec. 4.2), every network reading the same crop at its own input
size, the regressor's Eq. 3-4 units in cells of ITS OWN map, and each network's own weights."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from repo_paths import CONFIGS_DIR
from wsol_jax import config_defaults
from wsol_jax.methods.slt import config as slt_config
from wsol_jax.methods.slt import method as slt_lib
from wsol_jax.methods.slt import vst as transforms
from wsol_jax.models import heads
from wsol_jax.models import pretrained as pretrained_lib
from wsol_jax.models import weight_sources
from wsol_jax.training import method as base
from wsol_jax.training import parallel


# Config file -> (localizer, regressor = classifier backbone, their input sizes, data crop/resize).
PAPER = {
    "cub_slt": ("vgg16", "vgg16", 224, 224, (224, 256)),
    "cub_slt_inception": ("vgg16", "inception_v3", 224, 299, (299, 320)),
    "imagenet_slt": ("inception_v3", "vgg16", 299, 224, (299, 320)),
    "imagenet_slt_inception": ("inception_v3", "inception_v3", 299, 299, (299, 320)),
}
# The backbone's map (h, w) at its paper input size: VGG16 conv5_3 (stride 16), InceptionV3
# Mixed_6e (17 x 17 at 299).
PAPER_CELLS = {"vgg16": (14, 14), "inception_v3": (17, 17)}
# The localizer's map at its input size: CAM-VGG16 conv5_3 without pool5 (14 x 14 at 224), and
# InceptionV3 with Mixed_6a at stride 1 as SPG / ACoL / wsolevaluation build it (35 x 35 at 299),
# and VST's canvas rounded to that map's stride.
LOCALIZER_MAP = {"vgg16": ((14, 14), 16), "inception_v3": ((35, 35), 8)}


def paper_method(name):
  config = config_defaults.load_config_file(CONFIGS_DIR / f"{name}.py")
  classes = 200 if config.data.name == "cub" else 1000
  info = base.RunInfo(num_classes=classes, steps_per_epoch=10, train_size=160)
  return config, slt_lib.SLTNet(config, info)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_configs_use_the_papers_localizer_per_dataset(name):
  localizer, backbone, loc_size, size, data_sizes = PAPER[name]
  config, method = paper_method(name)
  assert localizer == {"cub": "vgg16", "imagenet_loc": "inception_v3"}[config.data.name]
  # The config...
  assert config.model.backbone == localizer
  assert config.slt.regressor.backbone == config.slt.classifier.backbone == backbone
  assert (config.slt.localizer.image_size, config.slt.regressor.image_size,
          config.slt.classifier.image_size) == (loc_size, size, size)
  assert (config.data.image_size, config.data.resize_size) == data_sizes  # the largest network's
  # ... and the networks the method builds from it.
  assert method.localizer().backbone_name == localizer
  assert type(method.regressor().backbone) is type(heads.make_backbone(backbone))
  assert type(method.classifier().backbone) is type(heads.make_backbone(backbone))
  assert method.input_sizes == {"localizer": loc_size, "regressor": size, "classifier": size}
  # Eq. 3-4's units: cells of the regressor's own map at its own input size.
  assert method.regressor_cells_hw((size, size)) == PAPER_CELLS[backbone]
  # L_VST of Eq. 11-13 on the min-max normalised localization map (raw maps of all classes shrink
  # away from ImageNet weights, see docs/ALGORITHMS.md); the canvas on the localizer's stride.
  assert (config.slt.vst_maps, config.slt.vst_normalize) == ("localization", "minmax")
  map_hw, stride = LOCALIZER_MAP[localizer]
  assert config.slt.canvas_multiple == stride
  # lr 2e-4 (Sec. 4.1); the new CAM head x10, the regressor's FCs at the paper's lr (issue 31).
  assert config.train.lr == 2e-4
  assert dict(config.train.lr_mults) == {"backbone": 1.0, "head": 10.0, "regressor_head": 1.0}
  # The pseudo-box threshold: 5 held-out training images a class, re-chosen 4 times an epoch.
  assert (config.slt.pseudo_threshold_images_per_class,
          config.slt.pseudo_threshold_per_epoch) == (5, 4)
  out = jax.eval_shape(lambda x: method.localizer().init_with_output(
      jax.random.key(0), x, train=False)[0], jax.ShapeDtypeStruct((1, loc_size, loc_size, 3),
                                                                   np.float32))
  assert out["features"].shape[1:3] == map_hw
  assert out["logits"].shape == (1, method.info.num_classes)
  # 'imagenet' weights resolve per backbone: each network gets its own torchvision file.
  sources = method.weight_sources()
  assert sources == {"localizer": (localizer, "imagenet"), "regressor": (backbone, "imagenet"),
                     "classifier": (backbone, "imagenet")}
  files = {net: weight_sources.lookup(pretrained_lib.default_source(b)).filename
           for net, (b, _) in sources.items()}
  want = {"vgg16": "vgg16-397923af.pth", "inception_v3": "inception_v3_google-0cc3c7bd.pth"}
  assert files == {"localizer": want[localizer], "regressor": want[backbone],
                   "classifier": want[backbone]}


def test_cpu_recipe_keeps_one_backbone_and_its_vst_choice():
  """configs/cub_slt_mobilenet.py (CPU recipe): every network is MobileNet-0.75 at the data's 160
  px (the localizer too, not VGG16), L_VST on min-max normalised top-K ACAMs, as before."""
  config, method = paper_method("cub_slt_mobilenet")
  assert config.model.backbone == "mobilenet_v1_075"
  assert method.localizer().backbone_name == "mobilenet_v1_075"
  assert config.slt.classifier.backbone == "mobilenet_v1_075"
  assert method.input_sizes == {"localizer": 0, "regressor": 0, "classifier": 0}
  assert (config.slt.vst_maps, config.slt.vst_normalize) == ("localization", "minmax")
  defaults = slt_config.default_config()
  assert (defaults.vst_maps, defaults.vst_normalize) == ("localization", "minmax")
  assert config.slt.vst_class_reduce == defaults.vst_class_reduce == "sum"  # one map: no difference


def test_a_weight_file_of_the_localizer_is_not_loaded_into_another_backbone():
  config, _ = paper_method("cub_slt_inception")
  info = base.RunInfo(num_classes=200, steps_per_epoch=10, train_size=160)
  config.model.pretrained = "/weights/vgg16.pth"
  with pytest.raises(ValueError, match=r"config\.slt\.regressor\.pretrained"):
    slt_lib.SLTNet(config, info)
  config.slt.regressor.pretrained = config.slt.classifier.pretrained = "/weights/inception.pth"
  assert slt_lib.SLTNet(config, info).weight_sources()["classifier"] == (
      "inception_v3", "/weights/inception.pth")


# ------------------------------------------------------------------------------------------------
# A tiny two-backbone case: the localizer a 2-stage small_vgg (stride 2) at 32 px, the regressor a
# 3-stage small_vgg without BatchNorm (stride 4) at 48 px, the classifier at 24 px; crops of 48 px.

CROP, LOC, REG, CLS, BATCH, CLASSES = 48, 32, 48, 24, 8, 4


def two_backbone_config():
  config = config_defaults.get_base_config()
  config.method = "slt"
  config.model.backbone_kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  config.model.head_channels = 8
  config.data.image_size, config.data.resize_size = CROP, 54
  config.train.batch_size = BATCH
  config.train.num_steps = 60
  config.train.lr = 0.02
  config.train.lr_mults = {"backbone": 1.0, "head": 10.0, "regressor_head": 1.0}
  slt = config.slt = slt_config.default_config()
  slt.smt_k, slt.smt_alpha = 2, 0.4
  slt.canvas_multiple = 2
  slt.localizer.image_size = LOC
  slt.regressor.backbone = "small_vgg"
  slt.regressor.backbone_kwargs = {"widths": (8, 8, 16), "convs_per_stage": 1,
                                   "batch_norm": False}
  slt.regressor.image_size = REG
  slt.regressor.hidden_units = 16
  slt.classifier.image_size = CLS
  slt.classifier.ten_crop = True
  config.data.eval_ten_crop_images = True
  slt.stage_train.classifier.num_steps = 4
  return config


INFO = base.RunInfo(num_classes=CLASSES, steps_per_epoch=4, train_size=4 * BATCH)


def square_batches(n, seed=0):
  """Dark noise with one square per image whose colour is its class; its box is the GT."""
  rng = np.random.default_rng(seed)
  colours = np.array([[250, 40, 40], [40, 250, 40], [40, 40, 250], [250, 250, 40]], np.uint8)
  out = []
  for _ in range(n):
    images = rng.integers(0, 60, (BATCH, CROP, CROP, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int32)
    boxes = np.zeros((BATCH, 1, 4), np.float32)
    for i in range(BATCH):
      side = int(rng.integers(CROP // 3, CROP // 2))
      x0, y0 = rng.integers(0, CROP - side, 2)
      images[i, y0:y0 + side, x0:x0 + side] = colours[labels[i]]
      boxes[i, 0] = [x0, y0, x0 + side, y0 + side]
    out.append({"image": images, "label": labels, "bboxes": boxes,
                "bboxes_valid": np.ones((BATCH, 1), bool), "valid": np.ones(BATCH, bool)})
  return out


@pytest.fixture(scope="module")
def tiny():
  """(method, initial state, batches): the tiny two-backbone SLT-Net, built and initialised once."""
  method = slt_lib.SLTNet(two_backbone_config(), INFO)
  data = square_batches(2)
  return method, method.init_state(jax.random.key(0), data[0]), data


def test_two_backbone_joint_step_trains(tiny):
  method, state, data = tiny
  runner = parallel.JitRunner(devices=jax.devices()[:1])
  state = runner.place_state(state)
  step = runner.compile_step(lambda s, b, r, axis_name: method.train_step(
      s, b, r, stage=slt_lib.LOCALIZATION, axis_name=axis_name))
  history = []
  for i in range(60):
    state, metrics = step(state, runner.shard_batch(data[i % 2]), jax.random.key(1))
    history.append(runner.metrics_to_host(metrics))
  first = {k: np.mean([m[k] for m in history[:6]]) for k in ("loss", "loss_reg")}
  last = {k: np.mean([m[k] for m in history[-6:]]) for k in ("loss", "loss_reg")}
  assert np.all(np.isfinite([m["loss"] for m in history]))
  assert last["loss"] < 0.7 * first["loss"], (first, last)
  assert last["loss_reg"] < 0.7 * first["loss_reg"], (first, last)


def test_regressor_units_are_cells_of_its_own_map(tiny, monkeypatch):
  """The regressor's loss and boxes are in cells of ITS map (12 x 12 at 48 px, stride 4), not the
  localizer's (16 x 16 at 32 px), whatever the size of the images it is given."""
  method, state, data = tiny
  assert method.regressor_cells_hw((REG, REG)) == (12, 12)
  # A regressor that answers (3, 3, 9, 9) cells whatever the image: fc2 kernel 0, that bias.
  reg = dict(state.params["regressor"])
  reg["fc2"] = {"kernel": np.zeros_like(reg["fc2"]["kernel"]),
                "bias": np.array([3.0, 3.0, 9.0, 9.0], np.float32)}
  state = state.replace(params=dict(state.params, regressor=reg))
  for size in (CROP, 40):  # eval images of any size map back through normalised boxes
    images = jax.image.resize(heads.model_input(data[0]["image"]), (BATCH, size, size, 3),
                              "bilinear")
    np.testing.assert_allclose(np.asarray(method.regressor_boxes(state, images)),
                               np.tile([[0.25, 0.25, 0.75, 0.75]], (BATCH, 1)), atol=1e-6)
  # A known pseudo-box (0, 0, 0.5, 0.5): every corner 0.25 = 3 cells off, smooth L1 4 x 2.5 (in
  # the localizer's cells it would be 4 cells off: 14).
  seen = {}
  monkeypatch.setattr(slt_lib, "pseudo_box_normalized_xyxy",
                      lambda maps, hw, t: seen.update(loc_map=maps.shape[1:], loc_hw=hw)
                      or jax.numpy.tile(jax.numpy.array([[0.0, 0.0, 0.5, 0.5]]),
                                        (maps.shape[0], 1)))
  config = two_backbone_config()
  config.slt.vst_weight = 0.0  # a smaller step to compile; VST's canvas: the test below
  no_vst = slt_lib.SLTNet(config, INFO)
  _, metrics = jax.jit(lambda s, b: no_vst.train_step(s, b, jax.random.key(1),
                                                      stage=slt_lib.LOCALIZATION))(state, data[0])
  np.testing.assert_allclose(float(metrics["loss_reg"]), 10.0, rtol=1e-5)
  assert seen == {"loc_map": (16, 16), "loc_hw": (LOC, LOC)}


def test_vst_canvas_follows_the_localizers_input(tiny, monkeypatch):
  """g runs on the localizer's 32 px input (canvas 40 px at scale 1.25), not on the 48 px crop."""
  method, state, data = tiny
  seen = {}
  forward = transforms.spatial_forward
  monkeypatch.setattr(transforms, "spatial_forward", lambda x, p, canvas_hw, fill: seen.update(
      canvas=canvas_hw, image=x.shape[1:3]) or forward(x, p, canvas_hw, fill))
  jax.eval_shape(lambda s, b: method.train_step(s, b, jax.random.key(1),
                                                stage=slt_lib.LOCALIZATION), state, data[0])
  assert seen == {"canvas": (40, 40), "image": (LOC, LOC)}


def test_classifier_reads_its_own_size_in_training_and_ten_crop(tiny, monkeypatch):
  method, state, data = tiny
  state = method.enter_stage(state, slt_lib.CLASSIFIER)
  sizes = []
  classifier = method.classifier
  monkeypatch.setattr(method, "classifier", lambda *a: _Recording(classifier(*a), sizes))
  _, metrics = jax.jit(lambda s, b: method.train_step(s, b, jax.random.key(1),
                                                      stage=slt_lib.CLASSIFIER))(state, data[0])
  assert np.isfinite(float(metrics["loss"])) and sizes == [CLS]
  crops = np.stack([data[0]["image"]] * 10, axis=1)  # ten crops at the crop size
  preds = jax.eval_shape(method.predict, state, dict(data[0], image_ten_crop=crops))
  assert sizes[1:] == [CLS] and preds["system"]["logits"].shape == (BATCH, CLASSES)
  assert preds["localizer"]["cam_gt"].shape == (BATCH, LOC // 2, LOC // 2)


class _Recording:
  """A module wrapper that records the input size of every ``apply``."""

  def __init__(self, module, sizes):
    self.module, self.sizes = module, sizes

  def apply(self, variables, images, **kwargs):
    self.sizes.append(images.shape[1])
    return self.module.apply(variables, images, **kwargs)


def test_each_network_initialises_from_its_own_weight_source(monkeypatch):
  config = two_backbone_config()
  config.model.pretrained = "imagenet"
  config.slt.regressor.pretrained = "regressor.safetensors"
  calls = []
  monkeypatch.setattr(pretrained_lib, "load_into", lambda variables, source, backbone, **_: (
      calls.append((source, backbone))
      or (variables, pretrained_lib.LoadReport(source, [], 0, [], []))))
  method = slt_lib.SLTNet(config, INFO)
  jax.eval_shape(method.init_state, jax.random.key(0), square_batches(1)[0])
  assert calls == [("imagenet", "small_vgg"), ("regressor.safetensors", "small_vgg"),
                   ("imagenet", "small_vgg")]
