"""CAM with VGG16 on CUB-200-2011, the wsolevaluation recipe (Choe et al., CVPR 2020).

CAM-VGG16: conv5_3 without pool5, conv 3x3/1024 + ReLU, GAP, FC; ImageNet-pretrained backbone.
wsolevaluation's CUB/VGG16/CAM run: SGD (Nesterov, momentum 0.9), weight decay 5e-4 (L2, PyTorch
style), lr 1.268e-5 for the backbone and x10 for the head, x0.1 every 15 epochs (applied before its
epochs 15, 30 and 45, i.e. after 14, 29 and 44 finished epochs), batch 32, 50 epochs; images
resized to 256, random 224 crop + flip; evaluation at 224 with CAM thresholds every 0.001.

Prepare CUB first: ``python -m wsol_jax.data.prepare --dataset=cub --manual_dir=DIR``.
"""

from configs import common


def get_config():
  config = common.paper_base_config("cam", "cub", 224, 256, "vgg16")
  config.model.head_channels = 1024  # weights: torchvision vgg16 (wsol_jax.models.pretrained)

  common.paper_sgd(config, batch_size=32, lr=1.268269e-5, lr_mults={"backbone": 1.0, "head": 10.0},
                   weight_decay=5e-4, nesterov=True, schedule="step", decay_factor=0.1,
                   decay_boundaries_epochs=(14.0, 29.0, 44.0))
  config.train.num_epochs = 50.0
  config.train.log_every_steps = 50
  config.train.eval_every_epochs = 10.0

  config.eval.batch_size = 64
  config.eval.cam_curve_interval = 0.001
  config.eval.backend = "reference"
  return config
