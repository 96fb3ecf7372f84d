"""``--mode=dryrun`` of every shipped paper / CPU config (configs/*.py but __init__.py and
common.py; the files of variants, slt.py and lchp.py, run as their aliases cub_slt.py etc.; the
synthetic ones run in tests/training/test_dryrun.py) on data in each dataset's real format: CUB on
the real cub25 subset (../shared/data/cub25: 750 train / 737 test photos; skipped where a clone
lacks it), ILSVRC2012 as miniature train/val tars with the LOC CSVs (once with, once without
training boxes) and Tiny-ImageNet as a miniature zip (tests/helpers/archive_builders.py), each
miniature with 64 validation images. Each exits 0.

Real architectures and input sizes (VGG16, InceptionV3, MobileNet at 224 / 299 / 448 px). What the
test changes, and why (the ``overrides`` of each run):

* ``*.pretrained=''`` (random init): ImageNet weights cannot be downloaded here, and writing
  real-format files for VGG16 (528 MB) and InceptionV3 (104 MB) would cost more CPU time and disk
  than the dryrun itself; reading those formats is tested in tests/models/test_backbones_torch.py
  and tests/models/test_pretrained_*.py.
* ``train.batch_size=2`` and ``eval.batch_size=2`` in the full dryruns: the miniatures hold 6 to 18
  training images (fewer than LCHP's batch of 32), and on 2 CPU cores a VGG16 / InceptionV3 step at
  224-448 px takes about a second per image (ten-crop evaluation: ten); the compiled programs are
  the same but for the batch dimension. The configs' own batches are compiled and measured for
  the configs of issue 30 by :func:`test_ten_crop_eval_at_the_paper_batches_fits_the_train_step_memory`
  (``--dryrun_steps=0``: the memory check only).
* ``--dryrun_steps=1``: one step a stage and one eval batch (the dryrun's default is 2).
* ``data.worker_count=0``: the data in the test's process; starting 4 worker processes for each of
  a dryrun's 3-4 loaders cost about 50 s a config on the 2 busy cores here (workers are tested in
  tests/data/test_data_pipeline.py and tests/test_main_cli.py).
* ``slt.pseudo_threshold_images_per_class=1`` / ``lchp.delta_images_per_class=1`` where the config
  chooses a threshold on held-out training boxes: 25 images on cub25 instead of the configs' 125
  (a minute of VGG16 passes a config here; the same code).
* ``slt.smt_k=-1``: SLT-Net's K (30 of CUB's 200 classes, 100 of ImageNet's 1000) exceeds the
  data's 25 (cub25) or 3 (miniature) classes; -1 is the paper's ratio scaled to the class count.
* ``model.num_classes=1000`` where SLT-Net's classifier is the backbone's own ImageNet classifier
  (``slt.classifier.head='none'``): its 1000 outputs need 1000 classes, which the 3-class ImageNet
  miniature does not have (the real dataset does).

Marked ``paper_dryrun``: the README's test command leaves it out, ``.ci/run`` runs it after.
"""

import re

import pytest

import archive_builders
from cli_testlib import assert_dryrun_report, dryrun
from repo_paths import CONFIGS_DIR, SHARED_DIR
from configs import baselines
from wsol_jax import config_defaults

pytestmark = pytest.mark.paper_dryrun

CONFIGS = sorted(p.name for p in CONFIGS_DIR.glob("*.py")
                 if p.stem not in ("__init__", "common", "slt", "lchp", "baselines")
                 and not p.stem.startswith("synthetic"))
BATCH = 2
CUB25 = SHARED_DIR / "data" / "cub25"
# A full eval batch of the paper configs (64) of validation images; ImageNet: 3 classes x 6 training
# images, enough for SLT-Net's batch of 16 in the memory check.
VAL_IMAGES, IMAGENET_TRAIN_PER_CLASS = 64, 6
# The memory check's limit: an 80 GB accelerator's (the host's free memory would make the test
# depend on the other jobs of the machine; compiling allocates none of it).
MEMORY_LIMIT_GB = 80


def _config(config_file: str):
  return config_defaults.load_config_file(CONFIGS_DIR / config_file)


def _variants(config_file: str) -> list[str]:
  """The data a config runs on: ImageNet with and without training boxes for SLT-Net, whose
  pseudo-box threshold is chosen on them (the box-free fallback); LCHP's paper configs keep the
  paper's fixed delta, so training boxes change nothing there."""
  config = _config(config_file)
  name = config.data.name
  if name == "imagenet_loc" and config.method == "slt":
    return [name, "imagenet_loc_no_train_boxes"]
  return [name]


CASES = [(c, v) for c in CONFIGS for v in _variants(c)]
# configs/baselines.py: every method on every paper backbone (CUB).
CASES += [(f"baselines.py:{v}", "cub") for v in baselines.VARIANTS]
# The memory check at the configs' own batches: the configs of issue 30 (one a dataset; the other
# ten-crop configs run the same evaluation code, and each check compiles for 1.5-2 minutes here).
TEN_CROP = ["cub_slt.py", "imagenet_slt.py"]


@pytest.fixture(scope="module")
def manual_dirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("archives")
  for variant, boxes in (("imagenet_loc", True), ("imagenet_loc_no_train_boxes", False)):
    archive_builders.make_imagenet_manual_dir(root / variant, train_boxes=boxes,
                                              images_per_class=IMAGENET_TRAIN_PER_CLASS,
                                              val_images=VAL_IMAGES)
  archive_builders.make_tiny_imagenet_zip(root / "tiny_imagenet", val_images=VAL_IMAGES)
  return root


def _manual_dir(manual_dirs, variant: str):
  """The data of ``variant``: cub25 for CUB (skip without it), else the miniature."""
  if variant == "cub":
    if not CUB25.is_dir():
      pytest.skip(f"{CUB25} is absent: the CUB configs run on the real cub25 subset, which lives "
                  "in ../shared beside the repository (the development setup)")
    return CUB25
  return manual_dirs / variant


def _overrides(config_file: str, batch: int | None = BATCH) -> list[str]:
  """The module doc's changes, for the fields this config has (``batch`` None: its own)."""
  flat = _flatten(_config(config_file).to_dict())
  out = [f"--config.{key}=" for key, value in flat.items()
         if key.rsplit(".", 1)[-1] == "pretrained" and value]
  if batch is not None:
    out += [f"--config.train.batch_size={batch}", f"--config.eval.batch_size={batch}"]
  out.append("--config.data.worker_count=0")
  if "slt.smt_k" in flat:
    out.append("--config.slt.smt_k=-1")
  for key in ("slt.pseudo_threshold_images_per_class", "lchp.delta_images_per_class"):
    if flat.get(key, 0) > 0:
      out.append(f"--config.{key}=1")
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


def _run(manual_dirs, workdir, config_file, variant, *args):
  """``--mode=dryrun`` of ``config_file`` on ``variant``'s data (its TFDS build made on first use,
  then shared by the module's tests)."""
  return dryrun(f"configs/{config_file}", workdir, manual_dirs / "tfds" / variant,
                f"--config.data.manual_dir={_manual_dir(manual_dirs, variant)}", *args,
                timeout=1800)


@pytest.mark.parametrize("config_file,variant", CASES,
                         ids=[f"{c.replace('.py', '')}-{v}" for c, v in CASES])
def test_config_dryrun(manual_dirs, tmp_path_factory, config_file, variant):
  workdir = tmp_path_factory.mktemp("run")
  proc = _run(manual_dirs, workdir, config_file, variant, *_overrides(config_file),
              "--dryrun_steps=1")
  stages = {"slt": ["localization"], "lchp": ["init"]}.get(_config(config_file).method, ["train"])
  assert_dryrun_report(proc, workdir, stages)
  print(proc.stdout[proc.stdout.index("dryrun of"):])


def _needs_bytes(stdout: str, part: str) -> float:
  """The bytes the dryrun printed that ``part`` ('train[localization]', 'eval') needs."""
  match = re.search(rf"^dryrun: {re.escape(part)}: compiled in .* needs ([\d.]+) (GiB|MiB) ",
                    stdout, re.MULTILINE)
  assert match, stdout
  return float(match[1]) * {"GiB": 2**30, "MiB": 2**20}[match[2]]


@pytest.mark.parametrize("config_file", TEN_CROP, ids=[c[:-3] for c in TEN_CROP])
def test_ten_crop_eval_at_the_paper_batches_fits_the_train_step_memory(
    manual_dirs, tmp_path_factory, config_file):
  """Issue 30: at the config's own batches (train 16, eval 64), the ten-crop evaluation needs at
  most 1.5x the localization step's memory (all crops in one pass needed 28.8 GB for VGG16) and
  every program fits an 80 GB accelerator; compiled only (``--dryrun_steps=0``)."""
  config = _config(config_file)
  assert config.slt.classifier.ten_crop and config.eval.batch_size == 64
  variant = config.data.name
  proc = _run(manual_dirs, tmp_path_factory.mktemp("run"), config_file, variant,
              *_overrides(config_file, None), "--dryrun_steps=0",
              f"--dryrun_memory_limit_gb={MEMORY_LIMIT_GB}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "memory check only (--dryrun_steps=0)" in proc.stdout, proc.stdout
  assert re.search(r"^dryrun: eval: compiled in .* at batch 64;", proc.stdout, re.MULTILINE)
  train, evaluation = (_needs_bytes(proc.stdout, p) for p in ("train[localization]", "eval"))
  assert evaluation <= 1.5 * train, (evaluation, train)
  print(proc.stdout[proc.stdout.index("dryrun of"):])
