"""The shipped recipes, an importable package: ``--config=configs/<file>.py[:<variant>]``.

Each file has ``get_config()`` (or ``get_config(variant)`` with a ``VARIANTS`` tuple: ``slt.py``,
``lchp.py``) returning an ``ml_collections.ConfigDict`` built on
:func:`wsol_jax.config_defaults.get_base_config`. Shared recipes are in :mod:`configs.common` and
are imported (``from configs import common``); a file sets only what differs from the defaults.
"""
