"""The WSOL methods, one package each, all of the same shape: ``<name>/{__init__, config, method,
losses, figures}.py`` (plus the method's own modules), named as ``config.method`` names them.

What methods share is in :mod:`.common`; a method imports it and never another method. The
training loop finds a method by name (:func:`wsol_jax.training.method.get_method` imports
``wsol_jax.methods.<name>``); nothing here is imported by the loop.
"""
