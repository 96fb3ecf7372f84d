"""``--mode=dryrun`` of every shipped paper / CPU config (configs/*.py but __init__.py and
common.py; the files of variants, slt.py and lchp.py, run as their aliases cub_slt.py etc.; the
synthetic ones run in tests/training/test_dryrun.py) on miniature archives in each
dataset's real format: CUB's tgz, ILSVRC2012's train/val tars with the LOC CSVs (once with, once
without training boxes) and Tiny-ImageNet's zip (tests/helpers/archive_builders.py). Each exits 0.

Real architectures and input sizes (VGG16, InceptionV3, MobileNet at 224 / 299 / 448 px). What the
test changes, and why (the ``overrides`` of each run):

* ``*.pretrained=''`` (random init): ImageNet weights cannot be downloaded here, and writing
  real-format files for VGG16 (528 MB) and InceptionV3 (104 MB) would cost more CPU time and disk
  than the dryrun itself; reading those formats is tested in tests/models/test_backbones_torch.py
  and tests/models/test_pretrained_*.py.
* ``train.batch_size=2`` and ``eval.batch_size=2``: the miniatures hold 6 to 9 training images
  (fewer than the papers' batch of 16 / 32), and on 2 CPU cores a VGG16 / InceptionV3 step at
  224-448 px takes about a second per image (ten-crop evaluation: ten); the compiled programs are
  the same but for the batch dimension.
* ``--dryrun_steps=1``: one step a stage and one eval batch (the dryrun's default is 2).
* ``slt.smt_k=-1``: SLT-Net's K (30 of CUB's 200 classes, 100 of ImageNet's 1000) exceeds the
  miniatures' 2-3 classes; -1 is the paper's ratio scaled to the class count.
* ``model.num_classes=1000`` where SLT-Net's classifier is the backbone's own ImageNet classifier
  (``slt.classifier.head='none'``): its 1000 outputs need 1000 classes, which the 3-class ImageNet
  miniature does not have (the real dataset does).

Marked ``paper_dryrun``: the README's test command leaves it out, ``.ci/run`` runs it after.
"""

import pytest

import archive_builders
from cli_testlib import assert_dryrun_report, dryrun
from repo_paths import CONFIGS_DIR
from wsol_jax import config_defaults

pytestmark = pytest.mark.paper_dryrun

CONFIGS = sorted(p.name for p in CONFIGS_DIR.glob("*.py")
                 if p.stem not in ("__init__", "common", "slt", "lchp")
                 and not p.stem.startswith("synthetic"))
BATCH = 2


def _variants(config_file: str) -> list[str]:
  """The miniature archives a config runs on: ImageNet with and without training boxes for
  SLT-Net, whose pseudo-box threshold is chosen on them (the box-free fallback); LCHP's paper
  configs keep the paper's fixed delta, so training boxes change nothing there."""
  config = config_defaults.load_config_file(CONFIGS_DIR / config_file)
  name = config.data.name
  if name == "imagenet_loc" and config.method == "slt":
    return [name, "imagenet_loc_no_train_boxes"]
  return [name]


CASES = [(c, v) for c in CONFIGS for v in _variants(c)]


@pytest.fixture(scope="module")
def manual_dirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("archives")
  archive_builders.make_cub_archive(root / "cub")
  archive_builders.make_imagenet_manual_dir(root / "imagenet_loc", train_boxes=True)
  archive_builders.make_imagenet_manual_dir(root / "imagenet_loc_no_train_boxes",
                                            train_boxes=False)
  archive_builders.make_tiny_imagenet_zip(root / "tiny_imagenet")
  return root


def _overrides(config_file: str) -> list[str]:
  """The module doc's changes, for the fields this config has."""
  config = config_defaults.load_config_file(CONFIGS_DIR / config_file)
  flat = _flatten(config.to_dict())
  out = [f"--config.{key}=" for key, value in flat.items()
         if key.rsplit(".", 1)[-1] == "pretrained" and value]
  out += [f"--config.train.batch_size={BATCH}", f"--config.eval.batch_size={BATCH}"]
  if "slt.smt_k" in flat:
    out.append("--config.slt.smt_k=-1")
  if flat.get("slt.classifier.head") == "none":  # ImageNet's own 1000-way classifier, as it is
    out.append("--config.model.num_classes=1000")
  return out


def _flatten(tree, prefix=""):
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


@pytest.mark.parametrize("config_file,variant", CASES, ids=[f"{c[:-3]}-{v}" for c, v in CASES])
def test_config_dryrun(manual_dirs, tmp_path_factory, config_file, variant):
  config = config_defaults.load_config_file(CONFIGS_DIR / config_file)
  data_dir = manual_dirs / "tfds" / variant  # built on first use, then shared
  workdir = tmp_path_factory.mktemp("run")
  proc = dryrun(f"configs/{config_file}", workdir, data_dir,
                f"--config.data.manual_dir={manual_dirs / variant}", *_overrides(config_file),
                "--dryrun_steps=1", timeout=1800)
  stages = {"cam": ["train"], "slt": ["localization"], "lchp": ["init"]}[config.method]
  assert_dryrun_report(proc, workdir, stages)
  print(proc.stdout[proc.stdout.index("dryrun of"):])
