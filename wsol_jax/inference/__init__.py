"""Localize your own photos: load a trained model and predict a class and a box for any image.

::

  from wsol_jax import inference
  model = inference.load("runs/cub_slt")            # a workdir (latest step, or step=N) or a .wsol file
  preds = model.predict(["a.jpg", pil_image, np_uint8_hwc])

:mod:`.model` (loading, preprocessing, prediction: what each prediction holds), :mod:`.export`
(the self-contained ``.wsol`` file), :mod:`.files` (folders and globs of photos,
``predictions.jsonl`` and overlays of ``--mode=predict``).
"""

from wsol_jax.inference.export import EXPORT_SUFFIX, read_export_metadata  # noqa: F401
from wsol_jax.inference.files import find_images, overlay, predict_files  # noqa: F401
from wsol_jax.inference.model import Model, Preprocessing, load, preprocess  # noqa: F401
