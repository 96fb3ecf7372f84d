"""SLT-Net on the offline synthetic_wsol dataset with the small VGG-style net (the offline demo).

``python -m wsol_jax.main --config=configs/synthetic_slt.py --workdir=DIR`` trains the localization
branch (localizer + regressor, 4 epochs), then the classifier (6 epochs). Network, optimizer and
learning rate are those of configs/synthetic_cam.py (the CAM demo trains 6 epochs); K is the number
of classes per group of synthetic_wsol (the classes that share a body). scripts/ablate_slt.py
compares the localizer with its CAM baseline under this schedule.
"""

from configs import synthetic_cam
from wsol_jax.methods.slt import config as slt_config


def get_config():
  config = synthetic_cam.get_config()
  config.method = "slt"
  config.train.num_epochs = 4.0  # the localization branch; the paper trains 4 epochs on CUB

  config.slt = slt_config.default_config()
  config.slt.smt_k = config.data.synthetic.classes_per_group  # 3: the classes sharing a body
  config.slt.canvas_multiple = 4  # small_vgg with 3 stages: stride 4
  config.slt.regressor.hidden_units = 128
  config.slt.stage_train.classifier.num_epochs = 6.0  # the CAM demo's length: > 80 % top-1
  return config
