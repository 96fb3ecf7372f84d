"""Localize your own photos: load a trained model and predict a class and a box for any image.

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

Exported file (``--mode=export --out model.wsol``, :func:`export`): one safetensors file. The
tensors are the inference parameters only (:meth:`Method.inference_state`: no optimizer state, no
EMA unless the method's inference reads it), float32 (or float16 with ``--export_dtype=float16``:
half the size, cast back to float32 when loaded), named by their path joined with '/', e.g.
``params/localizer/backbone/Conv_0/kernel``, ``batch_stats/regressor/...``. The safetensors header
metadata has one key, ``wsol``, a JSON object: ``format`` ('wsol_jax.inference/1'), ``method``,
``step``, ``config`` (the run's full config, as in the checkpoint meta), ``class_names``,
``preprocessing`` (``image_size``, ``resize_size``, ``eval_mode``), ``run_info``
(``num_classes``, ``steps_per_epoch``, ``train_size``), ``empty_nodes`` (paths of empty
sub-trees, e.g. ``batch_stats/localizer`` for a network without BatchNorm) and ``dtype``. Any
safetensors reader opens it; :func:`load` rebuilds the method from the config and runs it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Iterable, Sequence

import jax
import ml_collections
import numpy as np

from wsol_jax.data import decode
from wsol_jax.data import transforms
from wsol_jax.localization import boxes as box_lib
from wsol_jax.localization import scoremap_reference
from wsol_jax.training import method as base
from wsol_jax.training import train_state as ts

FORMAT = "wsol_jax.inference/1"
EXPORT_SUFFIX = ".wsol"
CLASS_NAMES_FILE = "class_names.json"  # the training loop's (wsol_jax.training.loop)
TOP_K = 5
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


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
    """Writes the self-contained ``.wsol`` file (module docstring); returns its path."""
    return export(self, path, dtype)


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
    raise FileNotFoundError(f"no model at {path} (expected a workdir or a {EXPORT_SUFFIX} file)")
  return _load_workdir(path, step, config, batch_size)


def _build_method(config, class_names, steps_per_epoch: int, train_size: int) -> base.Method:
  info = base.RunInfo(num_classes=len(class_names), steps_per_epoch=max(1, int(steps_per_epoch)),
                      train_size=int(train_size))
  return base.get_method(config.method)(config, info)


def _inference_config(config) -> ml_collections.ConfigDict:
  """An unlocked copy; weights come from the checkpoint, so no pretrained file is read."""
  config = ml_collections.ConfigDict(json.loads(config.to_json_best_effort())
                                     if isinstance(config, ml_collections.ConfigDict) else config)
  config.model.pretrained = ""
  return config


def _load_workdir(workdir: str, step, config, batch_size) -> Model:
  from wsol_jax.training import checkpoints as ckpt_lib  # pylint: disable=import-outside-toplevel
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
    config = _inference_config(config if config is not None else meta["config"])
    class_names = workdir_class_names(workdir, config)
    # The saved tree as it is (no target): inference needs no abstract state, no dataset, and
    # no pretrained file or init_from run that built the first state.
    raw = ckpts.manager.restore(step, args=ckpt_lib.ocp.args.Composite(
        **{ckpt_lib.STATE: ckpt_lib.ocp.args.StandardRestore()}))[ckpt_lib.STATE]
  finally:
    ckpts.close()
  spe = int(meta.get("steps_per_epoch", 1))
  method = _build_method(config, class_names, spe, spe * int(config.train.batch_size))
  state = ts.TrainState(step=np.asarray(raw["step"]), params=raw["params"],
                        batch_stats=raw.get("batch_stats") or {}, opt_state=None,
                        ema_params=raw.get("ema_params"), extras=raw.get("extras") or {})
  state = jax.device_get(method.inference_state(state))
  return Model(method, state, class_names, step=step, source=workdir, batch_size=batch_size)


def workdir_class_names(workdir: str, config) -> list[str]:
  """``workdir/class_names.json``; else the dataset's names (written there when possible); else
  '0', '1', ... for ``config.model.num_classes`` classes."""
  path = os.path.join(workdir, CLASS_NAMES_FILE)
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
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      json.dump(names, f, indent=0)
    os.replace(path + ".tmp", path)
  except OSError:
    pass  # a read-only workdir: the names still come from the dataset
  return names


# ----------------------------------------------------------------------------------------------
# The exported file.


def _flatten(tree, prefix: str, tensors: dict, empty: list) -> None:
  if isinstance(tree, dict) or hasattr(tree, "items"):
    items = dict(tree.items())
    if not items:
      empty.append(prefix)
    for key, value in items.items():
      key = str(key)
      if "/" in key:
        raise ValueError(f"parameter name {key!r} holds '/', which the export format reserves")
      _flatten(value, f"{prefix}/{key}" if prefix else key, tensors, empty)
  elif tree is None:
    empty.append(prefix)
  else:
    tensors[prefix] = np.ascontiguousarray(np.asarray(tree))


def _unflatten(tensors: dict, empty: Sequence[str]) -> dict:
  root: dict = {}

  def node_at(parts):
    node = root
    for p in parts:
      node = node.setdefault(p, {})
    return node

  for path in empty:
    node_at(path.split("/"))
  for path, value in tensors.items():
    *parents, leaf = path.split("/")
    node_at(parents)[leaf] = value
  return root


def export(model: Model, path: str, dtype: str = "float32") -> str:
  """Writes ``model`` as one safetensors file (format in the module docstring); returns the path.

  ``dtype``: 'float32' (the trained numbers: predictions equal the workdir's) or 'float16'
  (half the size; :func:`load` casts back to float32, so outputs differ in the last digits).
  """
  from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel
  if dtype not in ("float32", "float16"):
    raise ValueError(f"export dtype must be 'float32' or 'float16', got {dtype!r}")
  tensors: dict[str, np.ndarray] = {}
  empty: list[str] = []
  state = jax.device_get(model.state)
  _flatten({"params": state.params, "batch_stats": state.batch_stats}, "", tensors, empty)
  if dtype == "float16":
    tensors = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in tensors.items()}
  info = model.method.info
  meta = {
      "format": FORMAT, "method": model.config.method, "step": model.step,
      "config": json.loads(model.config.to_json_best_effort()),
      "class_names": model.class_names,
      "preprocessing": dataclasses.asdict(model.preprocessing),
      "run_info": {"num_classes": info.num_classes, "steps_per_epoch": info.steps_per_epoch,
                   "train_size": info.train_size},
      "empty_nodes": empty, "dtype": dtype}
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp"
  save_file(tensors, tmp, metadata={"wsol": json.dumps(meta)})
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)  # a file to share: the usual permissions, not the writer's 0600
  os.replace(tmp, path)
  return path


def read_export_metadata(path: str) -> dict:
  """The ``wsol`` JSON of an exported file (no tensors read)."""
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel
  try:
    with safe_open(path, framework="numpy") as f:
      meta = (f.metadata() or {}).get("wsol")
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"{path} is not an exported wsol_jax model ({type(e).__name__}: {e})") from None
  if meta is None:
    raise ValueError(f"{path} is a safetensors file without wsol_jax metadata")
  meta = json.loads(meta)
  if meta.get("format") != FORMAT:
    raise ValueError(f"{path}: unknown format {meta.get('format')!r} (this version reads {FORMAT})")
  return meta


def _load_export(path: str, config, batch_size) -> Model:
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
  meta = read_export_metadata(path)
  tensors = {k: v.astype(np.float32) if v.dtype == np.float16 else v
             for k, v in load_file(path).items()}
  tree = _unflatten(tensors, meta["empty_nodes"])
  config = _inference_config(config if config is not None else meta["config"])
  ri = meta["run_info"]
  method = _build_method(config, meta["class_names"], ri["steps_per_epoch"], ri["train_size"])
  state = ts.TrainState(step=np.asarray(meta["step"], np.int32), params=tree.get("params", {}),
                        batch_stats=tree.get("batch_stats", {}), opt_state=None)
  return Model(method, state, meta["class_names"], step=meta["step"], source=path,
               batch_size=batch_size)


# ----------------------------------------------------------------------------------------------
# --mode=predict: a folder or glob of photos -> predictions.jsonl and overlays/.


def find_images(pattern: str) -> list[str]:
  """A directory (its image files, recursively, sorted) or a glob (every match, sorted; files of
  any suffix, so a broken file named .jpg is reported rather than missed)."""
  import glob  # pylint: disable=import-outside-toplevel
  if os.path.isdir(pattern):
    found = []
    for root, _, files in os.walk(pattern):
      found += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(found)
  if os.path.isfile(pattern):
    return [pattern]
  return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def overlay(rec: dict[str, Any], max_side: int = 384) -> np.ndarray:
  """The photo with the method's box (blue), the map's box (green, when it differs) and the label,
  and beside it (when the method has a map) the same over the heat map: uint8 [H', W', 3], each
  panel's longest side <= ``max_side``."""
  from wsol_jax import drawing  # pylint: disable=import-outside-toplevel
  image = rec["image"]
  height, width = image.shape[:2]
  scale = min(1.0, max_side / max(height, width))
  size = (max(1, round(height * scale)), max(1, round(width * scale)))
  boxes = []
  if "map_box_xyxy" in rec and rec["map_box_xyxy"] != rec["box_xyxy"]:
    boxes.append((np.asarray(rec["map_box_xyxy"], np.float32), drawing.GREEN))
  boxes.append((np.asarray(rec["box_xyxy"], np.float32), drawing.BLUE))
  panels = [drawing.caption(drawing.box_tile(image, boxes, None, size_hw=size, width=3),
                            f"{rec['class_name']} {rec['probability']:.2f}")]
  if rec.get("scoremap") is not None:
    panels.append(drawing.box_tile(image, boxes, rec["scoremap"], size_hw=size, width=3))
  return drawing.grid([panels], pad=2)


def predict_files(model: Model, paths: Sequence[str], out_dir: str, *, show_progress=True,
                  write_overlays: bool = True) -> dict[str, Any]:
  """Predicts every path into ``out_dir/predictions.jsonl`` (one line per path, in order; errors
  as ``{"path", "error"}``) and ``out_dir/overlays/<name>.png``; returns a summary dict
  (``num_images``, ``num_failed``, ``failed`` [(path, error)], ``seconds``, ``images_per_s``)."""
  import tqdm  # pylint: disable=import-outside-toplevel
  from wsol_jax import drawing  # pylint: disable=import-outside-toplevel
  os.makedirs(out_dir, exist_ok=True)
  jsonl = os.path.join(out_dir, "predictions.jsonl")
  overlay_dir = os.path.join(out_dir, "overlays")
  names = _overlay_names(paths)
  failed = []
  bar = tqdm.tqdm(total=len(paths), desc="predict", unit="img", dynamic_ncols=True,
                  disable=not show_progress)
  start = time.perf_counter()
  with open(jsonl + ".tmp", "w", encoding="utf-8") as f:
    for lo in range(0, len(paths), model.batch_size):
      chunk = list(paths[lo:lo + model.batch_size])
      for i, rec in enumerate(model.predict(chunk, return_maps=write_overlays)):
        if "error" in rec:
          failed.append((rec["path"], rec["error"]))
          bar.write(f"skipped {rec['path']}: {rec['error']}")
        elif write_overlays:
          drawing.save_png(os.path.join(overlay_dir, names[lo + i] + ".png"), overlay(rec),
                           compress_level=1)  # encoding at the default level took 4/5 of the time
        f.write(json.dumps({k: v for k, v in rec.items() if k not in ("image", "scoremap")})
                + "\n")
      bar.update(len(chunk))
  os.replace(jsonl + ".tmp", jsonl)
  bar.close()
  seconds = time.perf_counter() - start
  return {"num_images": len(paths), "num_failed": len(failed), "failed": failed,
          "predictions": jsonl, "seconds": seconds,
          "images_per_s": (len(paths) - len(failed)) / seconds if seconds > 0 else 0.0}


def _overlay_names(paths: Sequence[str]) -> list[str]:
  """``<stem>`` of each path, made unique (``<stem>_2``, ...) when stems repeat."""
  seen: dict[str, int] = {}
  out = []
  for p in paths:
    stem = os.path.splitext(os.path.basename(p))[0] or "image"
    seen[stem] = seen.get(stem, 0) + 1
    out.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
  return out
