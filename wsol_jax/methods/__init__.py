"""WSOL methods on the shared loop, selected by ``config.method`` (see ``methods/base.py``)."""

from wsol_jax.methods.base import Method, RunInfo, Stage, get_method, method_names, register_method

# Each method module registers itself on import.
from wsol_jax.methods import cam  # noqa: F401  'cam'
from wsol_jax.methods import lchp  # noqa: F401  'lchp'
from wsol_jax.methods import slt  # noqa: F401  'slt'
