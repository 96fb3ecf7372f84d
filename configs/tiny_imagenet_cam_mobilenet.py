"""Real-data CPU demo: CAM on a Tiny-ImageNet cut, from ImageNet-trained MobileNetV1-0.75 weights.

Trains on 2 CPU cores in minutes, on real photos, and reports Top-1/5 CLS and LOC, GT-known LOC,
MaxBoxAcc and MaxBoxAccV2 on the val photos:

    python -m wsol_jax.main --config=configs/tiny_imagenet_cam_mobilenet.py \
        --workdir=/tmp/tiny_cam \
        --config.data.manual_dir=../shared/data \
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5

``data.manual_dir`` is the folder holding ``tiny-imagenet-200*.zip`` (the 20-class cut
``tiny-imagenet-200-sub20.zip`` or the full ``tiny-imagenet-200.zip``); the dataset is built from it
on first use. ``model.pretrained`` is the Keras file (or 'imagenet' to download it when online).

Model: Keras MobileNetV1 at width 0.75 (the shared weights), block 12 at stride 1 so the CAM map is
H/16 (8x8 at 128 px), GAP + FC on its 768 channels (no extra conv: the plain CAM of a GAP network,
cheap on a CPU). The 64 px photos are upsampled to 144 and randomly cropped to 128 (eval: resized
to 128). SGD with momentum, lr 0.01 for the new FC, 0.001 for the pretrained backbone, cosine decay.
"""

from wsol_jax import config_defaults


def get_config():
  config = config_defaults.get_base_config()
  config.method = "cam"
  config.data.name = "tiny_imagenet"
  config.data.manual_dir = ""  # e.g. ../shared/data (see the docstring)
  config.data.image_size = 128
  config.data.resize_size = 144
  config.data.train_augment = "random_crop"
  config.data.hflip = True
  config.data.eval_mode = "resize"

  config.model.backbone = "mobilenet_v1_075"
  config.model.backbone_kwargs = {"last_stride": 1}
  config.model.head_channels = 0
  config.model.pretrained = "imagenet"  # keras:mobilenet_v1_075, or a path to the .h5 file

  config.train.batch_size = 32
  config.train.num_epochs = 4.0
  config.train.lr = 1e-3
  config.train.lr_mults = {"backbone": 1.0, "head": 10.0}
  config.train.weight_decay = 1e-4
  config.train.schedule = "cosine"
  config.train.log_every_steps = 10

  config.eval.split = "validation"
  config.eval.batch_size = 128
  return config
