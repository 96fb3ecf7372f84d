"""LCHP (Sun & Zhu): :mod:`.method` (the method), :mod:`.config` (``config.lchp``), :mod:`.losses`,
:mod:`.attention_boxes` (Algorithm 1), :mod:`.strong_augment` (S), :mod:`.figures` (Fig. 2)."""

from wsol_jax.methods.lchp.method import LCHP  # noqa: F401  (registers 'lchp')
