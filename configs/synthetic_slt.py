"""SLT-Net on the offline synthetic_wsol dataset with the small VGG-style net (the offline demo).

``python -m wsol_jax.main --config=configs/synthetic_slt.py --workdir=DIR`` trains the localization
branch (localizer + regressor, 4 epochs), then the classifier (4 epochs). Network, optimizer and
learning rate are those of configs/synthetic_cam.py (the CAM demo trains 6 epochs); K is the number
of classes per group of synthetic_wsol (the classes that share a body). scripts/ablate_slt.py
compares the localizer with its CAM baseline under this schedule.
"""

from wsol_jax import config_defaults
from wsol_jax.methods import slt


def get_config():
  config = config_defaults.get_base_config()
  config.method = "slt"
  config.model.backbone = "small_vgg"
  config.model.backbone_kwargs = {"widths": (32, 64, 128), "convs_per_stage": 1}
  config.model.head_channels = 128
  config.train.batch_size = 32
  config.train.num_epochs = 4.0  # the localization branch; the paper trains 4 epochs on CUB
  config.train.lr = 0.02
  config.train.lr_mults = {"backbone": 1.0, "head": 1.0}
  config.train.momentum = 0.9
  config.train.weight_decay = 5e-4
  config.train.schedule = "cosine"
  config.train.log_every_steps = 25
  config.train.checkpoint_every_epochs = 2.0
  config.eval.batch_size = 120  # divides over 1, 2, 4 and 8 devices

  config.slt = slt.default_config()
  config.slt.smt_k = config.data.synthetic.classes_per_group  # 3: the classes sharing a body
  config.slt.smt_alpha = 0.4
  config.slt.vst_weight = 10.0
  config.slt.canvas_multiple = 4  # small_vgg with 3 stages: stride 4
  config.slt.regressor.hidden_units = 128
  config.slt.classifier.train.num_epochs = 4.0
  return config
