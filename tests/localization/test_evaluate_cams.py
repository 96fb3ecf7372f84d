"""evaluate_cams: wsolevaluation-format inputs, known scores, JSON, and one-line errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from wsol_jax.localization import evaluate_cams
from wsol_jax.localization import metrics

# (image id, (w, h), boxes in the original image); the map is a plateau on the resized box of
# `hit` (or elsewhere when None).
_IMAGES = [
    ("val/n01/a.JPEG", (500, 375), [(156, 163, 318, 230)], 0),
    ("val/n01/b.JPEG", (107, 330), [(0, 0, 50, 100), (40, 100, 107, 330)], 1),  # 2 boxes, x=W
    ("val/n02/c.JPEG", (224, 224), [(0, 0, 223, 223)], 0),  # the whole image, at the border
    ("val/n02/d.JPEG", (300, 200), [(10, 10, 60, 60)], None),  # a miss
]


def _int_resize(box, size):
  (w, h), (x0, y0, x1, y1) = size, box
  return (int(x0 * 224.0 / w), int(y0 * 224.0 / h), int(x1 * 224.0 / w), int(y1 * 224.0 / h))


def _write_dataset(root, images=_IMAGES, drop_extension=False):
  scoremaps, metadata = root / "scoremaps", root / "metadata"
  metadata.mkdir(parents=True)
  lines = {"image_ids": [], "class_labels": [], "image_sizes": [], "localization": []}
  for image_id, (w, h), boxes, hit in images:
    lines["image_ids"].append(image_id)
    lines["class_labels"].append(f"{image_id},0")
    lines["image_sizes"].append(f"{image_id},{w},{h}")
    lines["localization"] += [f"{image_id},{x0},{y0},{x1},{y1}" for x0, y0, x1, y1 in boxes]
    scoremap = np.zeros((224, 224), np.float32)
    if hit is None:
      scoremap[150:220, 150:220] = 1.0
    else:
      x0, y0, x1, y1 = _int_resize(boxes[hit], (w, h))
      scoremap[y0:y1, x0:x1] = 1.0  # box [x0, y0, min(x1, 223), min(y1, 223)]: IoU >= 0.85
    name = os.path.splitext(image_id)[0] if drop_extension else image_id
    path = scoremaps / (name + ".npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, scoremap)
  for name, text in lines.items():
    (metadata / f"{name}.txt").write_text("\n".join(text) + "\n")
  return str(scoremaps), str(metadata)


def _run(scoremaps, metadata, tmp_path, *extra):
  out = tmp_path / "out" / "result.json"
  code = evaluate_cams.main(["--scoremap_root", scoremaps, "--metadata_root", metadata,
                             "--output", str(out), "--no_progress", *extra])
  return code, (json.loads(out.read_text()) if code == 0 else None)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_known_scores_and_json(tmp_path, capsys, backend):
  scoremaps, metadata = _write_dataset(tmp_path)
  code, result = _run(scoremaps, metadata, tmp_path, "--backend", backend)
  assert code == 0
  assert result["MaxBoxAcc"] == 75.0 and result["MaxBoxAccV2"] == 75.0
  assert result["MaxBoxAcc_per_iou"] == {"30": 75.0, "50": 75.0, "70": 75.0}
  assert result["MaxBoxAccV2_per_iou"] == {"30": 75.0, "50": 75.0, "70": 75.0}
  assert result["best_thresholds"]["MaxBoxAcc"] == 0.0
  assert result["num_images"] == 4 and result["backend"] == backend
  printed = capsys.readouterr().out
  assert "MaxBoxAccV2" in printed and "75.00" in printed


def test_equals_accumulator_on_blob_maps_and_extension_dropped_names(tmp_path):
  rng = np.random.default_rng(0)
  images, maps = [], []
  for i in range(6):
    w, h = int(rng.integers(100, 600)), int(rng.integers(100, 600))
    boxes = []
    for _ in range(int(rng.integers(1, 3))):
      x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
      boxes.append((x0, y0, int(rng.integers(x0 + 5, w)), int(rng.integers(y0 + 5, h))))
    images.append((f"test/{i % 2}/{i}.jpg", (w, h), boxes, 0))
  scoremaps, metadata = _write_dataset(tmp_path, images, drop_extension=True)
  yy, xx = np.mgrid[0:224, 0:224]
  for image_id, *_ in images:  # overwrite the plateaus with smooth blobs
    cy, cx = rng.uniform(30, 190, 2)
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(15, 60) ** 2))
    blob = (blob - blob.min()) / (blob.max() - blob.min())
    maps.append(blob)
    np.save(os.path.join(scoremaps, os.path.splitext(image_id)[0] + ".npy"), blob)
  code, result = _run(scoremaps, metadata, tmp_path, "--cam_curve_interval", "0.05",
                      "--iou_threshold_list", "30", "50", "70")
  assert code == 0
  direct = metrics.ScoremapMetrics(cam_curve_interval=0.05)
  gt = np.zeros((6, 2, 4))
  valid = np.zeros((6, 2), bool)
  for b, (_, size, boxes, _) in enumerate(images):
    for m, box in enumerate(boxes):
      gt[b, m], valid[b, m] = _int_resize(box, size), True
  direct.update(np.stack(maps), gt, valid)
  expected = direct.compute()
  assert result["MaxBoxAcc"] == expected["MaxBoxAcc"]
  assert result["MaxBoxAccV2"] == expected["MaxBoxAccV2"]


def _corrupt(tmp_path, how):
  scoremaps, metadata = _write_dataset(tmp_path)
  first_map = os.path.join(scoremaps, "val/n01/a.JPEG.npy")
  if how == "missing metadata":
    os.remove(os.path.join(metadata, "image_sizes.txt"))
  elif how == "malformed line":
    with open(os.path.join(metadata, "localization.txt"), "a") as f:
      f.write("val/n01/a.JPEG,1,2,3\n")
  elif how == "bad box":
    with open(os.path.join(metadata, "localization.txt"), "a") as f:
      f.write("val/n01/a.JPEG,10,2,3,4\n")
  elif how == "id without boxes":
    with open(os.path.join(metadata, "image_ids.txt"), "a") as f:
      f.write("val/n03/e.JPEG\n")
    with open(os.path.join(metadata, "image_sizes.txt"), "a") as f:
      f.write("val/n03/e.JPEG,10,10\n")
  elif how == "missing map":
    os.remove(first_map)
  elif how == "wrong shape":
    np.save(first_map, np.zeros((100, 224)))
  elif how == "NaN":
    np.save(first_map, np.full((224, 224), np.nan))
  elif how == "out of range":
    np.save(first_map, np.full((224, 224), 1.5))
  elif how == "not an npy":
    with open(first_map, "w") as f:
      f.write("hello")
  return scoremaps, metadata


@pytest.mark.parametrize("how, message", [
    ("missing metadata", "image_sizes.txt"),
    ("malformed line", "localization.txt:"),
    ("bad box", "localization.txt:"),
    ("id without boxes", "'val/n03/e.JPEG' has no box"),
    ("missing map", "a.JPEG.npy"),
    ("wrong shape", "shape (100, 224)"),
    ("NaN", "NaN"),
    ("out of range", "outside [0, 1]"),
    ("not an npy", "cannot read score map"),
])
def test_one_line_errors(tmp_path, capsys, how, message):
  scoremaps, metadata = _corrupt(tmp_path, how)
  code, _ = _run(scoremaps, metadata, tmp_path)
  err = capsys.readouterr().err.strip()
  assert code == 2
  assert message in err and len(err.splitlines()) == 1, err
  assert not (tmp_path / "out" / "result.json").exists()
