"""Datasets (TFDS builders writing array_record, no TensorFlow) and grain input pipelines.

* :mod:`~wsol_jax.data.pipeline` -- what training / evaluation call: ``default_data_config``,
  ``ensure_prepared``, ``num_classes``, ``num_examples``, ``make_train_loader``,
  ``make_eval_loader``.
* :mod:`~wsol_jax.data.transforms` -- per-example NumPy transforms that move boxes with images.
* :mod:`~wsol_jax.data.registry` -- dataset names -> builders; building on first use.
* :mod:`~wsol_jax.data.prepare` -- the ``python -m wsol_jax.data.prepare`` CLI.
* Builders: :mod:`synthetic_wsol` (+ :mod:`synthetic_render`), :mod:`cub`, :mod:`tiny_imagenet`;
  shared pieces for new ones: :mod:`wsol_builder` (schema, base class), :mod:`decode` (images to
  RGB, box validation), :mod:`source_tree` (files from a folder or zip, tar extraction).
"""
