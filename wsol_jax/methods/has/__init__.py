"""Hide-and-Seek (HaS; Singh & Lee, ICCV 2017), as wsolevaluation trains it: :mod:`.method` (the
method), :mod:`.config` (``config.has`` and its checks), :mod:`.hiding` (the random patch hiding),
:mod:`.losses` (cross-entropy), :mod:`.figures`."""

from wsol_jax.methods.has.method import HideAndSeek  # noqa: F401  (registers 'has')
