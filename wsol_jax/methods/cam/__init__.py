"""CAM (Zhou et al., CVPR 2016), the baseline: :mod:`.method` (the method), :mod:`.config` (its
config checks; CAM has no section of its own), :mod:`.losses` (cross-entropy), :mod:`.figures`."""

from wsol_jax.methods.cam.method import CAM  # noqa: F401  (registers 'cam')
