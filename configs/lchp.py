"""LCHP (Sun & Zhu) with InceptionV3-BAP: the paper's settings (Sec. 4.3), one variant per dataset.

  python -m wsol_jax.main --config=configs/lchp.py:cub --workdir=DIR   # or :imagenet, :tiny_imagenet

The rest is ``lchp_paper_config`` in configs/common.py (SGD m 0.9, wd 1e-5, batch 32, classifier lr
x0.9 per epoch, regressor lr constant, 512 -> random 448 crop + flip); ``config.lchp``'s defaults
are the paper's CUB values (delta 0.7, tau 0.9, 40 refine epochs at lr 2e-3). configs/cub_lchp.py
etc. are the same variants under the design card's names.

``cub``:
  LCHP on CUB-200-2011 with InceptionV3-BAP, the paper's settings (Sun & Zhu, Sec. 4.3).

  40 init epochs (LCHP-I), 40 refine epochs (LCHP-R) at lr 2e-3, delta 0.7, tau 0.9; the rest is
  ``lchp_paper_config`` in configs/common.py (SGD m 0.9, wd 1e-5, batch 32, classifier lr x0.9 per
  epoch, regressor lr constant, 512 -> random 448 crop + flip).

  Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``.

``imagenet``:
  LCHP on ImageNet-1k (ILSVRC2012 localisation) with InceptionV3-BAP, the paper's settings.

  10 init epochs, 5 refine epochs at lr 2e-4, delta 0.7, tau 0.9; the rest is
  ``lchp_paper_config`` in configs/common.py. ImageNet images may hold several GT boxes; a prediction
  counts as located when it overlaps any of them (IoU >= 0.5).

  Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``.

``tiny_imagenet``:
  LCHP on Tiny-ImageNet (200 classes, 64 x 64 images) with InceptionV3-BAP, the paper's settings.

  40 init epochs, 40 refine epochs at lr 2e-3, delta 0.8 (the paper's Tiny-ImageNet value), tau 0.9;
  the rest is ``lchp_paper_config`` in configs/common.py (the paper uses the same 512 -> 448 general
  augmentation on all three datasets, so the 64 px images are upsampled).

  Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=tiny_imagenet --manual_dir=DIR``.
"""

from configs import common

VARIANTS = ("cub", "imagenet", "tiny_imagenet")


def get_config(variant: str = "cub"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/lchp.py has no variant {variant!r}; variants: {VARIANTS}")
  dataset = "imagenet_loc" if variant == "imagenet" else variant
  config = common.lchp_paper_config(dataset)
  if variant == "imagenet":
    config.train.num_epochs = 10.0  # the init stage (LCHP-I)
    config.lchp.stage_train.refine.num_epochs = 5.0  # LCHP-R
    config.lchp.stage_train.refine.lr = 2e-4
    config.data.max_boxes = 16
    config.train.log_every_steps = 200
    config.train.eval_every_epochs = 5.0
  else:  # CUB and Tiny-ImageNet: 40 init epochs (LCHP-I), 40 refine epochs (the default)
    config.train.num_epochs = 40.0
    config.train.eval_every_epochs = 10.0
  if variant == "tiny_imagenet":
    config.lchp.delta = 0.8  # Table 3's Tiny-ImageNet value
  return config
