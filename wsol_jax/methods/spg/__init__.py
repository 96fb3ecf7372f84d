"""SPG (Self-produced Guidance, Zhang et al., ECCV 2018), as wsolevaluation builds it:
:mod:`.method` (the method), :mod:`.network` (backbone + SPG-A, SPG-B, SPG-C), :mod:`.config`
(``config.spg``), :mod:`.losses` (CE + three guided BCE terms), :mod:`.figures`."""

from wsol_jax.methods.spg.method import SPG  # noqa: F401  (registers 'spg')
