"""ACoL (Zhang et al., CVPR 2018), as wsolevaluation builds it: :mod:`.method` (the method),
:mod:`.network` (backbone + two classifier branches with erasing), :mod:`.config` (``config.acol``),
:mod:`.losses` (CE(A) + CE(B)), :mod:`.figures`."""

from wsol_jax.methods.acol.method import ACoL  # noqa: F401  (registers 'acol')
