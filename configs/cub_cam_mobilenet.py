"""CAM on CUB-200-2011 (or any class subset, e.g. the 25-class cub25) from ImageNet MobileNetV1-0.75:
the CPU recipe that configs/cub_slt_mobilenet.py and configs/cub_lchp_mobilenet.py share, so that
scripts/compare_methods.py compares the three methods on one backbone, one input and one optimizer.

    python -m wsol_jax.main --config=configs/cub_cam_mobilenet.py --workdir=/tmp/cub_cam \\
        --config.data.manual_dir=../shared/data/cub25 \\
        --config.model.pretrained=../shared/weights/mobilenet_7_5_224_tf.h5

On cub25 (750 train / 737 test images) and 2 CPU cores (Intel Xeon, AVX-512), with only the final
evaluation (as scripts/compare_methods.py runs them), a run took 3.6 min for CAM, 20.5 min for
SLT-Net and 14.7 min for LCHP before the CPU defaults of wsol_jax.runtime (an XLA:CPU flag, glibc
huge pages); 2.0, 9.7 and 8.4 min with them (docs/RESULTS.md). A step now (jax 0.10.2,
scripts/benchmark_step.py's *_cub_mobilenet rows, docs/BENCHMARKS.md): CAM ~0.9 s (was 1.7),
SLT-Net's localization step ~3.9 s (6.8: two localizer passes, one on the larger VST canvas, and
the regressor; then the classifier), LCHP's init step ~2.9 s (5.7) and refine step ~1.4 s (2.3).
SLT-Net and LCHP now run within the 12 min aimed at. The papers' full settings stay in
configs/cub_cam.py, cub_slt.py, cub_lchp.py. Choices and reasons:

* Backbone: Keras MobileNetV1 at width 0.75 (the shared ImageNet weights), block 12 at stride 1, so
  the maps are H/16 (10 x 10 at 160), the stride of CAM-VGG16 and of InceptionV3's Mixed_6e.
* CAM head: GAP + FC on the backbone's 768 channels (the plain CAM of a GAP network, Zhou et al.),
  no extra 3x3/1024 conv: that conv costs ~3x the whole backbone (1.39 vs ~0.48 GMAC per 224 image)
  and made a step ~9.5 s at 224; without it a step is ~4x cheaper.
* Input: 184 -> random 160 crop + flip (the papers' 256 -> 224 ratio), evaluation resized to 160:
  half the pixels of 224, which is what lets SLT-Net (two localizer passes + a regressor per step)
  and LCHP (two classifier passes, two EMA passes and a regressor) train 4 epochs a stage.
* Optimizer (all three methods): SGD momentum 0.9, weight decay 1e-4, batch 32, cosine decay, lr
  1e-3 for pretrained layers and x10 for new ones: the rate that fine-tunes this MobileNet well in
  the Tiny-ImageNet demo (configs/tiny_imagenet_cam_mobilenet.py), not tuned on birds. LCHP keeps
  its paper's optimizer (its own recipe, Sec. 4.3) in configs/cub_lchp_mobilenet.py.
* 4 epochs: SLT-Net's CUB schedule (Sec. 4.1), the same for CAM, so the comparison is like for like.
* MaxBoxAcc threshold grid every 0.01 (wsolevaluation uses 0.001 on full CUB; 0.01 is 10x faster).
"""

from configs import common

IMAGE_SIZE, RESIZE_SIZE = 160, 184


def cpu_base(method: str):
  """What the three cub_*_mobilenet.py recipes share (see the module docstring)."""
  config = common.paper_base_config(method, "cub", IMAGE_SIZE, RESIZE_SIZE, "mobilenet_v1_075",
                                    {"last_stride": 1})
  config.data.worker_count = 0  # 2 cores: decode in the main process, no worker start-up
  config.data.manual_dir = ""  # e.g. ../shared/data/cub25
  config.model.head_channels = 0
  config.model.pretrained = "imagenet"  # keras:mobilenet_v1_075, or the path of the .h5 file

  common.paper_sgd(config, batch_size=32, lr=1e-3, lr_mults={"backbone": 1.0, "head": 10.0},
                   weight_decay=1e-4, schedule="cosine")
  config.train.num_epochs = 4.0
  config.train.log_every_steps = 10
  # A checkpoint every epoch, evaluation batch 64, MaxBoxAcc grid every 0.01: the defaults.
  return config


def get_config():
  return cpu_base("cam")
