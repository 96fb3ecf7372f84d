"""CutMix (Yun et al., ICCV 2019), as wsolevaluation trains it: :mod:`.method` (the method),
:mod:`.config` (``config.cutmix`` and its checks), :mod:`.mixing` (the box and the pasting),
:mod:`.losses` (the label-mixed cross-entropy), :mod:`.figures`."""

from wsol_jax.methods.cutmix.method import CutMix  # noqa: F401  (registers 'cutmix')
