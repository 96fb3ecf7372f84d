"""ADL (Choe & Shim, CVPR 2019): :mod:`.method` (the method), :mod:`.layer` (the layer and the
backbone hook that inserts it), :mod:`.positions` (where it sits per backbone), :mod:`.config`
(``config.adl`` and its checks), :mod:`.losses` (cross-entropy), :mod:`.figures`."""

from wsol_jax.methods.adl.method import ADL  # noqa: F401  (registers 'adl')
