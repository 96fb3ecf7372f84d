"""SLT-Net (Guo et al., CVPR 2021): the paper's settings, one variant per dataset and backbone.

  python -m wsol_jax.main --config=configs/slt.py:cub --workdir=DIR   # or :imagenet, ...

Every value is in ``slt_paper_config`` in configs/common.py; the variants differ by the dataset
(CUB or ImageNet: epochs, alpha, K, the pseudo-box localizer, the classifier) and by the regressor's
and classifier's backbone (VGG16 or InceptionV3). configs/cub_slt.py etc. are the same variants
under the design card's names.

``cub``:
  SLT-Net with VGG16 on CUB-200-2011: the paper's setting (Guo et al., CVPR 2021, Sec. 4.1, 4.2).

  Every network on VGG16 at 224 px: images resized to 256, random 224 crop + flip. Localization
  branch (localizer + regressor, one step): SGD momentum 0.9, weight decay 5e-4, lr 2e-4 (new layers
  x10), batch 16, 4 epochs; alpha 0.4, K 30, beta 10 on the min-max normalised top-K ACAM
  (Eq. 11-13).
  Localizer CAM-VGG16 (the paper's pseudo-box localizer for CUB); regressor VGG16 conv5_3 + GAP +
  FC 512-ReLU-FC 4, linear outputs in its feature cells (Eq. 3-4: x/16); classifier torchvision's
  VGG16 with a new 200-way fc8, fine-tuned (schedule: our choice, see docs/ALGORITHMS.md). All start
  from ImageNet weights. Test: ten-crop classification, single-image localization. Every value is in
  ``slt_paper_config`` in configs/common.py.

  Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``; the weights
  are fetched as ``torchvision:vgg16`` (or set ``--config.model.pretrained=PATH``; see
  wsol_jax/models/pretrained.py).

``cub_inception``:
  SLT-Net with InceptionV3 on CUB-200-2011: the paper's InceptionV3 setting (Guo et al., Sec. 4.1,
  4.2).

  As configs/cub_slt.py (SGD momentum 0.9, weight decay 5e-4, lr 2e-4, batch 16, 4 epochs, alpha 0.4,
  K 30, beta 10 on the normalised top-K ACAM) with the regressor and the classifier on InceptionV3
  at 299 px, while the pseudo-boxes still come from CAM-VGG16 at 224 px: the paper's localizer for
  CUB whatever the other networks' backbone ("the localizer with VGG16 to generate pseudo boxes for
  the CUB dataset", Sec. 4.2). Images are resized to 320 and randomly cropped to 299 (eval: resized
  to 299); the localizer reads that crop resized to 224 on device. Regressor: InceptionV3's Mixed_6e
  map + GAP + FC-ReLU-FC, its boxes in Mixed_6e cells (17 x 17 at 299); classifier: the full
  InceptionV3 (pooled Mixed_7c) with a new 200-way FC, fine-tuned. Weights: 'imagenet', i.e.
  torchvision's VGG16 for the localizer and torchvision's InceptionV3 (Google's weights) for the
  other two.

  Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``; with local
  weight files set ``--config.model.pretrained=VGG16_PATH`` and
  ``--config.slt.regressor.pretrained=INCEPTION_PATH
  --config.slt.classifier.pretrained=INCEPTION_PATH``.

``imagenet``:
  SLT-Net with VGG16 on ImageNet (ILSVRC2012 localization): the paper's setting (Sec. 4.1, 4.2).

  As configs/cub_slt.py but 2 epochs, alpha 0.2, K 100 (beta 10 on the normalised top-K ACAM,
  lr 2e-4, batch 16). Regressor and classifier on VGG16 at 224 px; the pseudo-boxes come from the
  paper's ImageNet localizer, InceptionV3 cut after Mixed_6e + the CAM head at 299 px ("the localizer
  with InceptionV3 to generate pseudo boxes for the ILSVRC2012 dataset", Sec. 4.2), with Mixed_6a at
  stride 1 as in SPG's, ACoL's and wsolevaluation's code (a 35x35 map). Images are
  resized to 320 and randomly cropped to 299 (eval: resized to 299); the VGG16 networks read them
  resized to 224 on device. The classifier is torchvision's ImageNet VGG16 as it is ("we directly use
  the pre-trained weights provided by PyTorch"): its own fc8, no classifier training. Weights:
  'imagenet', i.e. torchvision's InceptionV3 for the localizer and torchvision's VGG16 for the other
  two. Every value is in ``slt_paper_config`` in configs/common.py.

  Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``;
  with local weight files set ``--config.model.pretrained=INCEPTION_PATH`` and
  ``--config.slt.regressor.pretrained=VGG16_PATH
  --config.slt.classifier.pretrained=VGG16_PATH``.

``imagenet_inception``:
  SLT-Net with InceptionV3 on ImageNet (ILSVRC2012 localization): the paper's setting (Sec. 4.1).

  As configs/imagenet_slt.py (2 epochs, alpha 0.2, K 100, beta 10 on the normalised top-K ACAM,
  lr 2e-4, batch 16) with every network on InceptionV3 at 299 px: 320 -> random 299 crop (eval: 299).
  Localizer (the paper's ImageNet pseudo-box localizer): InceptionV3 cut after Mixed_6e with
  Mixed_6a at stride 1 (35x35) + the CAM head; regressor: InceptionV3's Mixed_6e map (17x17, the
  stride-2 network) + GAP + FC-ReLU-FC; classifier: torchvision's ImageNet
  InceptionV3 as it is ("we directly use the pre-trained weights provided by PyTorch": its own
  1000-way fc, no classifier training).

  Prepare the data first: ``python -m wsol_jax.data.prepare --dataset=imagenet_loc --manual_dir=DIR``
  (see wsol_jax/data/imagenet_loc.py for the files), and raise ``data.max_boxes`` to the built
  dataset's ``info.metadata["max_boxes"]`` if it is larger.
"""

from configs import common

# variant -> (dataset, backbone of the regressor and the classifier)
VARIANTS = {"cub": ("cub", "vgg16"), "cub_inception": ("cub", "inception_v3"),
            "imagenet": ("imagenet_loc", "vgg16"), "imagenet_inception": ("imagenet_loc", "inception_v3")}


def get_config(variant: str = "cub"):
  if variant not in VARIANTS:
    raise ValueError(f"configs/slt.py has no variant {variant!r}; variants: {tuple(VARIANTS)}")
  dataset, backbone = VARIANTS[variant]
  return common.slt_paper_config(dataset, backbone=backbone)
