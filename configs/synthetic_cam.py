"""CAM on the offline synthetic_wsol dataset with the small VGG-style net (the README demo).

Trains on 2 CPU cores in a few minutes: ``python -m wsol_jax.main --config=configs/synthetic_cam.py
--workdir=/tmp/wsol_demo``.
"""

from wsol_jax import config_defaults


def get_config():
  config = config_defaults.get_base_config()
  config.method = "cam"
  config.model.backbone = "small_vgg"
  config.model.backbone_kwargs = {"widths": (32, 64, 128), "convs_per_stage": 1}
  config.model.head_channels = 128
  config.train.batch_size = 32
  config.train.num_epochs = 6.0
  config.train.lr = 0.02
  config.train.lr_mults = {"backbone": 1.0, "head": 1.0}
  config.train.weight_decay = 5e-4
  config.train.schedule = "cosine"
  config.train.log_every_steps = 25
  config.train.checkpoint_every_epochs = 2.0
  config.eval.batch_size = 120
  return config
