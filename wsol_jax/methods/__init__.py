"""The WSOL methods, one module or package each, named as ``config.method`` names them.

The training loop finds a method by name (:func:`wsol_jax.training.method.get_method` imports
``wsol_jax.methods.<name>``); nothing here is imported by the loop.
"""
