"""SLT-Net with VGG16 on ImageNet (ILSVRC2012 localization): the paper's setting (Sec. 4.1).

As configs/cub_slt.py but 2 epochs, alpha 0.2, K 100 (beta 10, lr 2e-4, batch 16, 256 -> 224).
The classifier is torchvision's ImageNet VGG16 as it is ("we directly use the pre-trained weights
provided by PyTorch"): its own fc8, no classifier training. Every value is in
:func:`wsol_jax.methods.slt.method.paper_config`.

Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``.
"""

from wsol_jax.methods.slt import method as slt


def get_config():
  return slt.paper_config("imagenet_loc")
