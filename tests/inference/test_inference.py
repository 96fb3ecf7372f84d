"""Inference on one's own photos (wsol_jax.inference; ``--mode=predict`` / ``--mode=export``).

A tiny CAM run on synthetic_wsol (32 px photos, model input 24 px so the eval resize is real):
the API and the CLI give the eval path's boxes for the same images; ``box_xyxy`` maps back to a
non-square photo (and an EXIF-rotated one); unreadable files are reported and skipped; the
exported file loads in a fresh process without the dataset and predicts the same. SLT-Net's and
LCHP's ``infer`` are their evaluation's system group.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import lchp_testlib
import loop_testlib
import slt_testlib
from loop_testlib import fast_cpu_random  # noqa: F401  (autouse fixture)
from repo_paths import REPO
from wsol_jax import inference
from wsol_jax.data import pipeline
from wsol_jax.localization import metrics as metrics_lib
from wsol_jax.localization import scoremaps
from wsol_jax.training import evaluator
from wsol_jax.training import loop

SIZE, RESIZE = 24, 28
OVERRIDES = (f"--config.data.image_size={SIZE}", f"--config.data.resize_size={RESIZE}")
BAD = {"corrupt.jpg": None, "empty.jpg": b"", "notes.jpg": b"not an image, just text\n"}


def _python(*args, env_extra=None, timeout=600):
  env = dict(os.environ, PYTHONPATH=str(REPO), **(env_extra or {}))
  return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """The trained tiny run, its first eval batch's photos as PNG files (+ three unreadable files),
  and the eval path's boxes for them (the CAM of the top-1 class at eval.cam_threshold)."""
  root = tmp_path_factory.mktemp("inference")
  config = loop_testlib.tiny_config(root / "tfds")
  config.data.image_size, config.data.resize_size = SIZE, RESIZE
  workdir = root / "run"
  loop.train_and_evaluate(config, str(workdir))

  rl, state, _ = loop.load_checkpoint(config, str(workdir))
  batch = evaluator.first_batch(config)
  predict = evaluator.compile_predict(rl.method, rl.runner)
  logits = np.asarray(predict(state, rl.runner.shard_batch(batch))["localizer"]["logits"])
  top1 = np.argmax(logits, -1).astype(np.int32)
  by_top1 = dict(batch, label=top1)
  group = predict(state, rl.runner.shard_batch(by_top1))["localizer"]
  # The evaluator's steps for a 'cam_gt' group (GroupScorer.update -> ScoremapMetrics).
  maps = scoremaps.upsample_scoremaps_reference(group["cam_gt"], (SIZE, SIZE))
  eval_boxes = np.stack([scoremaps.boxes_from_scoremap_reference(m, [config.eval.cam_threshold])
                         [0][0] for m in maps])
  scorer = evaluator.GroupScorer(config.eval)
  scorer.update(group, by_top1)
  boxes_metric = metrics_lib.BoxMetrics()
  boxes_metric.update(eval_boxes.astype(np.float64), batch["bboxes"], (SIZE, SIZE),
                      gt_valid=batch["bboxes_valid"])
  # These are the boxes the evaluator scores: they give its GT-known (of the top-1 class's CAM).
  assert boxes_metric.compute()["gt_known_loc"] == scorer.result()["gt_known_loc"]

  source = pipeline.ensure_prepared(config.data).as_data_source("test")
  photos = root / "photos"
  photos.mkdir()
  originals, paths = [], []
  for i in range(len(top1)):
    example = source[i]
    image_id = example["image_id"]
    assert (image_id.decode() if isinstance(image_id, bytes) else image_id) == \
        batch["image_id"][i].decode()
    originals.append(np.asarray(example["image"]))
    paths.append(str(photos / f"img_{i:02d}.png"))
    Image.fromarray(originals[-1]).save(paths[-1])
  jpeg = io.BytesIO()
  Image.fromarray(originals[0]).save(jpeg, format="JPEG")
  BAD["corrupt.jpg"] = jpeg.getvalue()[:120]  # a truncated JPEG
  for name, data in BAD.items():
    (photos / name).write_bytes(data)
  return dict(root=root, config=config, names=pipeline.class_names(config.data), workdir=workdir, top1=top1, logits=logits,
              eval_boxes=eval_boxes, originals=originals, paths=paths, photos=photos)


def _input_px(rec):
  """A prediction's box on the model input (S x S) -- the frame of the eval path's boxes."""
  return np.rint(np.asarray(rec["box_xyxy_normalized"]) * SIZE).astype(np.int64)


def test_api_boxes_are_the_eval_paths_boxes(run):
  model = inference.load(run["workdir"])
  assert model.class_names == run["names"] and len(run["names"]) == 4  # from class_names.json
  assert json.loads((run["workdir"] / "class_names.json").read_text()) == run["names"]
  preds = model.predict(run["originals"])
  assert [p["class_index"] for p in preds] == run["top1"].tolist()
  np.testing.assert_array_equal(np.stack([_input_px(p) for p in preds]), run["eval_boxes"])
  for p in preds:  # CAM: the method's box is its map's box, at the config's threshold
    assert p["map_box_xyxy"] == p["box_xyxy"] and p["threshold"] == 0.2
    assert len(p["top5"]) == 4 and abs(sum(t[2] for t in p["top5"]) - 1) < 1e-5
    assert p["top5"][0] == [p["class_index"], p["class_name"], p["probability"]]
  probs = np.exp(run["logits"] - run["logits"].max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  np.testing.assert_allclose([p["probability"] for p in preds], probs.max(-1), atol=1e-5)
  # Paths, PIL images and arrays are the same photo.
  again = model.predict([run["paths"][0], Image.open(run["paths"][0]), run["originals"][0]])
  assert [a["box_xyxy"] for a in again] == [preds[0]["box_xyxy"]] * 3


def test_box_maps_back_to_a_non_square_and_an_exif_rotated_photo(run, tmp_path):
  model = inference.load(run["workdir"])
  wide = np.asarray(Image.fromarray(run["originals"][1]).resize((48, 32)))  # W 48, H 32
  rec = model.predict([wide])[0]
  assert (rec["width"], rec["height"]) == (48, 32)
  n = model.infer_batch(inference.preprocess(wide, model.preprocessing)[None])["boxes"][0]
  np.testing.assert_allclose(rec["box_xyxy"], n * [48, 32, 48, 32], atol=1e-9)
  np.testing.assert_allclose(rec["box_xyxy_normalized"], n, atol=1e-9)
  x0, y0, x1, y1 = rec["box_xyxy"]
  assert 0 <= x0 < x1 <= 48 and 0 <= y0 < y1 <= 32
  # Stored 48 x 32 with EXIF orientation 6 (rotate 90 CW to display): predicted upright, 32 x 48.
  path = tmp_path / "rotated.jpg"
  exif = Image.Exif()
  exif[0x0112] = 6
  Image.fromarray(wide).save(path, format="JPEG", exif=exif.tobytes(), quality=95)
  stored = np.asarray(Image.open(path).convert("RGB"))
  upright = np.ascontiguousarray(np.rot90(stored, k=-1))  # 90 degrees clockwise
  got, want = model.predict([str(path), upright])
  assert (got["width"], got["height"]) == (32, 48)
  assert got["box_xyxy"] == want["box_xyxy"] and got["top5"] == want["top5"]
  # Grayscale, RGBA, palette, CMYK and 16-bit photos are predicted.
  kinds = {"gray.png": "L", "rgba.png": "RGBA", "pal.png": "P", "cmyk.jpg": "CMYK"}
  for name, mode in kinds.items():
    Image.fromarray(wide).convert(mode).save(tmp_path / name)
  Image.fromarray((np.asarray(Image.fromarray(wide).convert("L")).astype(np.uint16) * 257)
                  ).save(tmp_path / "deep.png")
  recs = model.predict([str(tmp_path / n) for n in (*kinds, "deep.png")])
  assert all("error" not in r and (r["width"], r["height"]) == (48, 32) for r in recs), recs


def test_cli_predict_reports_bad_files_and_matches_eval_then_export_loads_without_dataset(run):
  root, workdir = run["root"], run["workdir"]
  config_file = loop_testlib.write_tiny_config_file(root / "tiny.py", root / "tfds")
  out = root / "predicted"
  proc = _python("-m", "wsol_jax.main", f"--config={config_file}", f"--workdir={workdir}",
                 *OVERRIDES, "--mode=predict", f"--images={run['photos']}", f"--out={out}")
  assert proc.returncode == len(BAD), proc.stdout + proc.stderr[-3000:]  # exit status: failures
  for name in BAD:
    assert name in proc.stderr
  lines = [json.loads(l) for l in (out / "predictions.jsonl").read_text().splitlines()]
  assert len(lines) == len(run["paths"]) + len(BAD)
  errors = {os.path.basename(l["path"]): l["error"] for l in lines if "error" in l}
  assert sorted(errors) == sorted(BAD)
  assert "empty" in errors["empty.jpg"] and "cannot decode" in errors["notes.jpg"]
  good = sorted((l for l in lines if "error" not in l), key=lambda l: l["path"])
  assert [l["path"] for l in good] == run["paths"]
  np.testing.assert_array_equal(np.stack([_input_px(l) for l in good]), run["eval_boxes"])
  assert [l["class_index"] for l in good] == run["top1"].tolist()
  assert sorted(p.name for p in (out / "overlays").iterdir()) == [
      f"img_{i:02d}.png" for i in range(len(good))]

  model_file = root / "model.wsol"
  proc = _python("-m", "wsol_jax.main", f"--config={config_file}", f"--workdir={workdir}",
                 *OVERRIDES, "--mode=export", f"--out={model_file}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  meta = inference.read_export_metadata(str(model_file))
  assert meta["class_names"] == run["names"] and meta["method"] == "cam"
  assert meta["preprocessing"] == {"image_size": SIZE, "resize_size": RESIZE,
                                   "eval_mode": "resize"}
  assert not any(k.startswith("opt_state") for k in meta["empty_nodes"])
  half = inference.load(str(model_file)).export(str(root / "half.wsol"), dtype="float16")
  assert inference.read_export_metadata(half)["dtype"] == "float16"
  np.testing.assert_allclose([r["probability"] for r in inference.load(half).predict(run["paths"])],
                             [l["probability"] for l in good], atol=1e-2)

  # A fresh process, the dataset moved away: the exported file and the workdir both predict.
  os.rename(root / "tfds", root / "tfds_moved")
  try:
    script = ("import json, sys\nfrom wsol_jax import inference\n"
              "paths = json.loads(sys.argv[3])\n"
              "out = {k: inference.load(sys.argv[i]).predict(paths) for k, i in "
              "(('export', 1), ('workdir', 2))}\nprint(json.dumps(out))\n")
    proc = _python("-c", script, str(model_file), str(workdir), json.dumps(run["paths"]),
                   env_extra={"JAX_PLATFORMS": "cpu"})
  finally:
    os.rename(root / "tfds_moved", root / "tfds")
  assert proc.returncode == 0, proc.stderr[-3000:]
  fresh = json.loads(proc.stdout.strip().splitlines()[-1])
  for key in ("export", "workdir"):
    assert [r["box_xyxy"] for r in fresh[key]] == [l["box_xyxy"] for l in good]
    assert [r["class_index"] for r in fresh[key]] == [l["class_index"] for l in good]
    np.testing.assert_allclose([r["probability"] for r in fresh[key]],
                               [l["probability"] for l in good], atol=1e-6)


def test_slt_and_lchp_infer_is_their_system_group():
  from wsol_jax.methods.lchp import method as lchp_lib  # pylint: disable=import-outside-toplevel
  from wsol_jax.methods.slt import method as slt_lib  # pylint: disable=import-outside-toplevel
  cases = [
      (slt_lib.SLTNet(slt_testlib.tiny_config(), slt_testlib.INFO),
       slt_testlib.batches(1)[0], "system"),
      (lchp_lib.LCHP(lchp_testlib.tiny_config(), lchp_testlib.INFO),
       lchp_testlib.fake_batch(), "lchp")]
  for method, batch, group in cases:
    state = method.init_state(jax.random.key(0), batch)
    inferred = jax.jit(method.infer)(method.inference_state(state), batch["image"])
    numeric = {k: v for k, v in batch.items() if k != "image_id"}
    evaluated = jax.jit(method.predict)(state, numeric)[group]
    np.testing.assert_allclose(inferred["logits"], evaluated["logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(inferred["boxes"], evaluated["boxes"], atol=1e-6)
    if method.name == "slt":  # the localizer's map (top-K ACAM) comes along, with its threshold
      assert inferred["scoremap"].shape[0] == len(batch["image"])
      np.testing.assert_allclose(inferred["threshold"], 0.2)
