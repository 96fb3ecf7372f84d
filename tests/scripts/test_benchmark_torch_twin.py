"""scripts/torch_twins.py: the PyTorch twins that ``benchmark_step.py --vs_torch`` times against the
JAX step have the JAX localizers' parameter counts, and (MobileNet, with the JAX weights copied in)
compute the same logits, so the two frameworks time the same network."""

from __future__ import annotations

import backbone_helpers
import flax
import jax
import numpy as np
import pytest

from wsol_jax import config_defaults
from wsol_jax.methods import common
from wsol_jax.models import heads

torch = pytest.importorskip("torch", reason="torch is not installed (the twins need it)")
twins = backbone_helpers.load_script("torch_twins")


@pytest.fixture(autouse=True)
def _one_torch_thread():
  """Tiny tensors: one thread (OpenMP threads spin-waiting beside the other tests cost seconds)."""
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(threads)


def _config(name: str):
  config = config_defaults.load_config_file(backbone_helpers.REPO / "configs" / name)
  config.model.pretrained = ""
  return config


def _jax_params(config, num_classes: int, size: int):
  """Shapes of the CAM localizer's params (no compile, no init)."""
  localizer = common.build_localizer(config, num_classes)
  images = jax.ShapeDtypeStruct((1, size, size, 3), np.float32)
  return jax.eval_shape(lambda x: localizer.init(jax.random.key(0), x, train=False), images)


@pytest.mark.parametrize("config_name,num_classes,count", [
    ("cub_cam_mobilenet.py", 25, 1_835_785),  # the benchmark's cam_cub_mobilenet row
    ("cub_cam.py", 200, 19_639_304),  # cam_vgg16
])
def test_twin_has_the_jax_localizers_parameter_count(config_name, num_classes, count):
  config = _config(config_name)
  shapes = _jax_params(config, num_classes, 64)
  assert sum(x.size for x in jax.tree.leaves(shapes["params"])) == count
  assert twins.parameter_count(twins.localizer_twin(config, num_classes)) == count


def _copy_mobilenet_weights(variables, model) -> None:
  """JAX MobileNet CAM variables -> the torch twin, layer by layer in network order."""
  backbone = flax.traverse_util.flatten_dict(variables["params"]["backbone"], sep="/")
  stats = flax.traverse_util.flatten_dict(variables["batch_stats"]["backbone"], sep="/")
  names = ["conv1"] + [f"conv_{kind}_{i}" for i in range(1, 14) for kind in ("dw", "pw")]
  convs = [m for m in model.backbone.features if isinstance(m, torch.nn.Conv2d)]
  norms = [m for m in model.backbone.features if isinstance(m, torch.nn.BatchNorm2d)]
  t = lambda x: torch.from_numpy(np.asarray(x, np.float32).copy())
  with torch.no_grad():
    for name, conv, norm in zip(names, convs, norms, strict=True):
      kernel = np.asarray(backbone[f"{name}/kernel"])  # HWIO; depthwise (3, 3, 1, C)
      conv.weight.copy_(t(kernel.transpose(3, 2, 0, 1)))
      norm.weight.copy_(t(backbone[f"{name}_bn/scale"]))
      norm.bias.copy_(t(backbone[f"{name}_bn/bias"]))
      norm.running_mean.copy_(t(stats[f"{name}_bn/mean"]))
      norm.running_var.copy_(t(stats[f"{name}_bn/var"]))
    fc = variables["params"]["head"]["fc"]
    model.fc.weight.copy_(t(np.asarray(fc["kernel"]).T))
    model.fc.bias.copy_(t(fc["bias"]))


def test_mobilenet_twin_computes_the_jax_logits():
  """Odd and even sizes: TensorFlow 'SAME' padding puts the odd pixel after in both."""
  config = _config("cub_cam_mobilenet.py")
  config.model.backbone = "mobilenet_v1_050"
  localizer = common.build_localizer(config, 7)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (2, 45, 45, 3), dtype=np.uint8)
  variables = jax.jit(lambda x: localizer.init(jax.random.key(0), x, train=False))(
      heads.model_input(images))
  stats = jax.tree.map(lambda x: rng.uniform(0.5, 1.5, x.shape).astype(np.float32),
                       variables["batch_stats"])
  variables = {"params": variables["params"], "batch_stats": stats}
  apply = jax.jit(lambda v, x: localizer.apply(v, heads.model_input(x), train=False)["logits"])
  ours = np.asarray(apply.lower(variables, images).compile(
      compiler_options=backbone_helpers.FAST_COMPILE)(variables, images))
  model = twins.localizer_twin(config, 7).eval()
  _copy_mobilenet_weights(variables, model)
  with torch.no_grad():
    theirs = model(torch.from_numpy(images)).numpy()
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_twin_train_step_lowers_the_loss():
  config = _config("cub_cam_mobilenet.py")
  config.model.backbone = "mobilenet_v1_050"
  config.train.lr = 0.01
  torch.manual_seed(0)
  model = twins.localizer_twin(config, 3)
  step = twins.make_train_step(model, twins.sgd_twin(model, config.train))
  images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), np.uint8))
  labels = torch.tensor([0, 1, 2, 0])
  losses = [step(images, labels) for _ in range(10)]
  assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_only_cam_config_rows_have_a_twin():
  config = _config("cub_cam_mobilenet.py")
  config.model.backbone = "resnet50"
  with pytest.raises(ValueError, match="not one of"):
    twins.localizer_twin(config, 3)
