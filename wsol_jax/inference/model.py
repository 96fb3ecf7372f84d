"""A trained model that predicts a class and a box for any photo: :func:`load`, :class:`Model`.

::

  from wsol_jax import inference
  model = inference.load("runs/cub_slt")            # a workdir (latest step, or step=N) or a .wsol file
  preds = model.predict(["a.jpg", pil_image, np_uint8_hwc])

Each prediction is a dict (one line of ``predictions.jsonl`` of ``--mode=predict``):

* ``path`` (a path, or ``<PIL image 0>`` / ``<array 1>``), ``width``, ``height``: the ORIGINAL
  image, upright (EXIF orientation applied);
* ``top5``: ``[[class index, class name, probability], ...]`` best first (fewer with fewer
  classes); ``class_index``, ``class_name``, ``probability``: the first of them;
* ``box_xyxy``: the method's box in the original image's pixels (x0, y0, x1, y1; pixel edges, so
  a box over columns a..b has x0 = a, x1 = b + 1) and ``box_xyxy_normalized`` (the same / (W, H));
* where the method has a localization map: ``map_box_xyxy``, ``map_box_xyxy_normalized`` (the box
  of the map at ``threshold``) and ``threshold``. For CAM the map's box IS the method's box.

What each method answers is its own :meth:`~wsol_jax.training.method.Method.infer`: CAM: the class
from the localizer, the box of the top-1 class's CAM at ``config.eval.cam_threshold``; SLT-Net: the
class from the classifier (ten-crop when configured), the box from the regressor; LCHP: the class
from the classifier, the box from the regressor. A map's box is computed on the host exactly as the
evaluator computes the GT-known / Top-1 LOC box (bicubic upsampling, uint8 levels, largest OpenCV
contour: :func:`wsol_jax.localization.scoremap_reference.scoremap_boxes_at_threshold`).

Preprocessing is the eval pipeline's, from the model's own config: the upright RGB photo goes
through :class:`wsol_jax.data.transforms.EvalTransform` (``data.eval_mode`` 'resize': to
``image_size`` square; 'center_crop': to ``resize_size`` square, then the centre crop), so a photo
and the same photo in an eval batch give the same input. Boxes are mapped back through the same
geometry (a box outside a centre crop cannot be predicted). Inference is ``jax.jit`` of the method's
``infer`` on whatever device JAX sees, compiled once per batch shape (batches are padded to
``batch_size``).

The model needs no dataset: a workdir gives the config and the step's parameters (checkpoint meta
and state) and ``class_names.json`` (written by the training loop; without it the class names come
from the dataset if it is there, else '0', '1', ... when ``config.model.num_classes`` is set).

The exported file is :mod:`wsol_jax.inference.export`'s; folders and globs of photos, overlays and
the ``--mode=predict`` files are :mod:`wsol_jax.inference.files`'.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterable, Sequence

import jax
import ml_collections
import numpy as np

from wsol_jax import io_utils
from wsol_jax.data import decode
from wsol_jax.data import transforms
from wsol_jax.inference import export as export_lib
from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import scoremap_reference
from wsol_jax.training import checkpoints as ckpt_lib
from wsol_jax.training import method as base
from wsol_jax.training import train_state as ts

TOP_K = 5


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """The eval pipeline's geometry (from ``config.data``)."""
  image_size: int
  resize_size: int
  eval_mode: str

  @classmethod
  def from_config(cls, config) -> "Preprocessing":
    mode = config.data.eval_mode
    if mode not in ("resize", "center_crop"):
      raise ValueError(f"inference supports data.eval_mode 'resize' or 'center_crop', not {mode!r} "
                       "(override it, e.g. --config.data.eval_mode=resize)")
    return cls(int(config.data.image_size), int(config.data.resize_size), mode)

  def spec(self) -> transforms.TransformSpec:
    return transforms.TransformSpec(image_size=self.image_size, resize_size=self.resize_size,
                                    max_boxes=1, eval_mode=self.eval_mode)

  def to_original(self, boxes_normalized_xyxy, height: int, width: int) -> np.ndarray:
    """Normalised xyxy of the model input [N, 4] -> pixel xyxy of the original ``width`` x
    ``height`` image (the inverse of the eval geometry)."""
    b = np.asarray(boxes_normalized_xyxy, np.float64)
    if self.eval_mode == "resize":
      return box_lib.denormalize_xyxy(b, width, height)
    s, r = self.image_size, self.resize_size
    off = (r - s) // 2  # transforms.center_crop's offset on the r x r image
    px = box_lib.translate_xyxy(box_lib.denormalize_xyxy(b, s, s), off, off)
    return box_lib.resize_xyxy(px, (r, r), (height, width))


def preprocess(image: np.ndarray, prep: Preprocessing) -> np.ndarray:
  """An upright RGB photo -> the model input uint8 [S, S, 3], through the eval transform."""
  example = {"image": image, "bboxes": np.zeros((0, 4), np.float32), "label": 0, "image_id": ""}
  return transforms.EvalTransform(prep.spec()).map(example)["image"]


class Model:
  """A trained method ready to predict (see the module docstring); build with :func:`load`."""

  def __init__(self, method: base.Method, state: ts.TrainState, class_names: Sequence[str], *,
               step: int, source: str, batch_size: int | None = None):
    self.method = method
    self.config = method.config
    self.class_names = [str(n) for n in class_names]
    self.step = int(step)
    self.source = source
    self.batch_size = int(batch_size or method.config.eval.batch_size)
    self.preprocessing = Preprocessing.from_config(self.config)
    self.state = jax.device_put(state)
    self._infer = jax.jit(method.infer)

  # ------------------------------------------------------------------------------------------

  def infer_batch(self, images_uint8: np.ndarray) -> dict[str, np.ndarray]:
    """Preprocessed images uint8 [B, S, S, 3] -> the method's ``infer`` outputs as NumPy, with
    ``boxes`` (normalised xyxy) always present and, where there is a map, ``map_boxes`` (both
    float64 [B, 4] of the model input)."""
    n = len(images_uint8)
    size = self.preprocessing.image_size
    padded = np.zeros((max(n, self.batch_size), size, size, 3), np.uint8)  # one shape: one jit
    padded[:n] = images_uint8
    out = {k: np.asarray(v)[:n] for k, v in jax.device_get(self._infer(self.state, padded)).items()}
    if "scoremap" in out:
      # The config's threshold came back as float32: its shortest decimal is the config's value,
      # which the evaluator uses in float64 (int(t * max) must match to the level).
      out["threshold"] = np.array([float(str(np.float32(t))) for t in out["threshold"]])
      px = scoremap_reference.scoremap_boxes_at_threshold(out["scoremap"], (size, size),
                                                          out["threshold"])
      out["map_boxes"] = px.astype(np.float64) / size
    if "boxes" not in out:
      out["boxes"] = out["map_boxes"]
    out["boxes"] = np.asarray(out["boxes"], np.float64)
    return out

  def predict(self, images: Iterable[Any], *, return_maps: bool = False,
              progress=None) -> list[dict[str, Any]]:
    """Predictions for paths, PIL images or uint8 HWC arrays, in order (module docstring).

    An image that cannot be read gives ``{'path': ..., 'error': 'one line'}`` and the others are
    still predicted. ``return_maps``: also ``image`` (the upright RGB photo) and ``scoremap``
    (raw [h, w] map, when the method has one) in each result, for drawing. ``progress``: called
    with the number of images done after each batch.
    """
    results = []
    items = list(images)
    for start in range(0, len(items), self.batch_size):
      chunk = items[start:start + self.batch_size]
      results.extend(self._predict_chunk(chunk, start, return_maps))
      if progress is not None:
        progress(len(chunk))
    return results

  def _predict_chunk(self, chunk, offset: int, return_maps: bool) -> list[dict[str, Any]]:
    loaded, inputs = [], []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(chunk):
      name = _describe(item, offset + i)
      try:
        photo = decode.load_photo(item, name=name)
        inputs.append(preprocess(photo, self.preprocessing))
      except (decode.BadExampleError, ValueError) as e:
        out.append({"path": name, "error": " ".join(str(e).split())})
        continue
      loaded.append((len(out), name, photo))
      out.append({})
    if not loaded:
      return out
    pred = self.infer_batch(np.stack(inputs))
    probs = _softmax(np.asarray(pred["logits"], np.float64))
    for j, (slot, name, photo) in enumerate(loaded):
      out[slot] = self._record(name, photo, probs[j], pred, j, return_maps)
    return out

  def _record(self, name, photo, probs, pred, j, return_maps) -> dict[str, Any]:
    height, width = photo.shape[:2]
    k = min(TOP_K, len(probs))
    top = np.argsort(-probs, kind="stable")[:k]
    rec: dict[str, Any] = {
        "path": name, "width": int(width), "height": int(height),
        "top5": [[int(c), self._name(c), float(probs[c])] for c in top],
        "class_index": int(top[0]), "class_name": self._name(top[0]),
        "probability": float(probs[top[0]])}
    rec.update(self._boxes("box", pred["boxes"][j], height, width))
    if "map_boxes" in pred:
      rec.update(self._boxes("map_box", pred["map_boxes"][j], height, width))
      rec["threshold"] = float(pred["threshold"][j])
    if return_maps:
      rec["image"] = photo
      if "scoremap" in pred:
        rec["scoremap"] = np.asarray(pred["scoremap"][j], np.float32)
    return rec

  def _boxes(self, key, box_normalized_input, height, width) -> dict[str, list[float]]:
    box = self.preprocessing.to_original(box_normalized_input[None], height, width)[0]
    box = box_lib.clip_xyxy(box, width, height)
    return {f"{key}_xyxy": [float(v) for v in box],
            f"{key}_xyxy_normalized": [float(v) for v in
                                       box_lib.normalize_xyxy(box, width, height)]}

  def _name(self, c) -> str:
    c = int(c)
    return self.class_names[c] if c < len(self.class_names) else str(c)

  # ------------------------------------------------------------------------------------------

  def export(self, path: str, dtype: str = "float32") -> str:
    """Writes the self-contained ``.wsol`` file (format: :mod:`wsol_jax.inference.export`);
    ``dtype`` 'float32' (predictions equal the workdir's) or 'float16' (half the size); returns
    its path."""
    state = jax.device_get(self.state)
    info = self.method.info
    meta = {"method": self.config.method, "step": self.step,
            "config": json.loads(self.config.to_json_best_effort()),
            "class_names": self.class_names,
            "preprocessing": dataclasses.asdict(self.preprocessing),
            "run_info": {"num_classes": info.num_classes, "steps_per_epoch": info.steps_per_epoch,
                         "train_size": info.train_size}}
    return export_lib.write_export(
        path, {"params": state.params, "batch_stats": state.batch_stats}, meta, dtype)


def _softmax(logits: np.ndarray) -> np.ndarray:
  z = logits - logits.max(axis=-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=-1, keepdims=True)


def _describe(item, index: int) -> str:
  if isinstance(item, (str, os.PathLike)):
    return os.fspath(item)
  if isinstance(item, np.ndarray):
    return f"<array {index}>"
  return f"<{type(item).__name__} {index}>" if not hasattr(item, "filename") or not getattr(
      item, "filename", "") else str(item.filename)


# ----------------------------------------------------------------------------------------------
# Loading.


def load(path: str, step: int | None = None, *, config: ml_collections.ConfigDict | None = None,
         batch_size: int | None = None) -> Model:
  """A :class:`Model` from a workdir (its latest checkpoint, or ``step``'s) or an exported file.

  ``config``: for a workdir, the config to run with (e.g. the command line's, with overrides such
  as ``eval.cam_threshold``); it must describe the same run as the checkpoint (same fingerprint).
  Default: the config saved with the checkpoint. ``batch_size``: images per compiled call
  (default ``config.eval.batch_size``).
  """
  path = os.fspath(path)
  if os.path.isfile(path):
    if step is not None:
      raise ValueError(f"{path} is an exported model (one step); --step applies to workdirs")
    return _load_export(path, config, batch_size)
  if not os.path.isdir(path):
    raise FileNotFoundError(f"no model at {path} (expected a workdir or a "
                            f"{export_lib.EXPORT_SUFFIX} file)")
  return _load_workdir(path, step, config, batch_size)


def build_method(config, class_names, steps_per_epoch: int, train_size: int) -> base.Method:
  info = base.RunInfo(num_classes=len(class_names), steps_per_epoch=max(1, int(steps_per_epoch)),
                      train_size=int(train_size))
  return base.get_method(config.method)(config, info)


def inference_config(config) -> ml_collections.ConfigDict:
  """An unlocked copy; weights come from the checkpoint, so no pretrained file is read."""
  config = ml_collections.ConfigDict(json.loads(config.to_json_best_effort())
                                     if isinstance(config, ml_collections.ConfigDict) else config)
  config.model.pretrained = ""
  return config


def _load_workdir(workdir: str, step, config, batch_size) -> Model:
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt_dir):
    raise FileNotFoundError(f"no checkpoints in {workdir} (train first, or check the path)")
  ckpts = ckpt_lib.Checkpoints(ckpt_dir, read_only=True)
  try:
    step = ckpts.resolve_step(step)
    meta = ckpts.read_meta(step)
    if config is not None and ckpt_lib.config_fingerprint(config) != meta.get("fingerprint"):
      raise ValueError(f"{workdir} holds checkpoints of another config (method="
                       f"{meta.get('config', {}).get('method')!r}); check --config / --workdir")
    config = inference_config(config if config is not None else meta["config"])
    class_names = workdir_class_names(workdir, config)
    # The saved tree as it is (no target): inference needs no abstract state, no dataset, and
    # no pretrained file or init_from run that built the first state.
    raw = ckpts.restore_saved_state(step)
  finally:
    ckpts.close()
  spe = int(meta.get("steps_per_epoch", 1))
  method = build_method(config, class_names, spe, spe * int(config.train.batch_size))
  state = ts.TrainState(step=np.asarray(raw["step"]), params=raw["params"],
                        batch_stats=raw.get("batch_stats") or {}, opt_state=None,
                        ema_params=raw.get("ema_params"), extras=raw.get("extras") or {})
  state = jax.device_get(method.inference_state(state))
  return Model(method, state, class_names, step=step, source=workdir, batch_size=batch_size)


def workdir_class_names(workdir: str, config) -> list[str]:
  """``workdir/class_names.json``; else the dataset's names (written there when possible); else
  '0', '1', ... for ``config.model.num_classes`` classes."""
  path = os.path.join(workdir, ckpt_lib.CLASS_NAMES_FILE)
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      return [str(n) for n in json.load(f)]
  try:
    from wsol_jax.data import pipeline  # pylint: disable=import-outside-toplevel
    names = pipeline.class_names(config.data)
  except Exception as e:  # pylint: disable=broad-except
    if config.model.num_classes:
      return [str(i) for i in range(int(config.model.num_classes))]
    raise FileNotFoundError(f"{path} is missing and the dataset {config.data.name!r} cannot give "
                            f"the class names ({type(e).__name__}: {e})") from None
  try:
    io_utils.atomic_write_json(path, names, indent=0)
  except OSError:
    pass  # a read-only workdir: the names still come from the dataset
  return names


def _load_export(path: str, config, batch_size) -> Model:
  variables, meta = export_lib.read_export(path)
  config = inference_config(config if config is not None else meta["config"])
  info = meta["run_info"]
  method = build_method(config, meta["class_names"], info["steps_per_epoch"], info["train_size"])
  state = ts.TrainState(step=np.asarray(meta["step"], np.int32), params=variables.get("params", {}),
                        batch_stats=variables.get("batch_stats", {}), opt_state=None)
  return Model(method, state, meta["class_names"], step=meta["step"], source=path,
               batch_size=batch_size)
