"""SLT-Net (Guo et al., CVPR 2021): :mod:`.method` (the method), :mod:`.config` (``config.slt`` and checks),
:mod:`.losses` (SMT, VST, smooth L1), :mod:`.vst` (the transforms g and g'), :mod:`.figures`."""

from wsol_jax.methods.slt.method import SLTNet  # noqa: F401  (registers 'slt')
