"""Miniature source archives in the real layouts of CUB-200-2011, ILSVRC2012 and Tiny-ImageNet, for
the builder tests and any test that needs a real dataset offline (start-up checks, dry runs).

Each writes the files a user puts in ``data.manual_dir`` and returns what a test compares against:

* :func:`make_cub_folder` / :func:`make_cub_archive`: ``CUB_200_2011/`` (+ ``segmentations/``) or
  ``CUB_200_2011.tgz``: 3 classes x 4 images (3 train, 1 test), one box each, gray + CMYK JPEGs;
* :func:`make_imagenet_manual_dir`: ``ILSVRC2012_img_{train,val}.tar`` with val boxes (CSV or VOC
  XML), optional train boxes, and a val image with ``max_boxes_in_val`` boxes (3 val images, or
  ``val_images``);
* :func:`make_tiny_imagenet_folder` / :func:`make_tiny_imagenet_zip`: ``tiny-imagenet-200/`` or its
  zip: 2 classes x 3 train images (one gray), one val image (or ``val_images``) and a val line of
  an unknown class.
"""

from __future__ import annotations

import io
import pathlib
import shutil
import tarfile
import tempfile

import numpy as np
from PIL import Image

from wsol_jax.data import imagenet_loc
from wsol_jax.data import tiny_imagenet

# ----------------------------------------------------------------------------------------------
# CUB-200-2011.

# Non-contiguous class ids, as in a subset of the 200: labels must follow sorted id order.
CUB_CLASSES = {5: "Crested_Auklet", 17: "Cardinal", 42: "Vermilion_Flycatcher"}


def make_cub_folder(root, rng=None) -> dict:
  """``root/CUB_200_2011/`` (+ ``root/segmentations/``, ``root/attributes.txt``); returns
  ``{image path under images/: {label, train, box (clipped xyxy), path, mask}}``."""
  root = pathlib.Path(root)
  rng = np.random.default_rng(0) if rng is None else rng
  cub_dir = root / "CUB_200_2011"
  (cub_dir / "images").mkdir(parents=True)
  seg_dir = root / "segmentations"
  lines = {k: [] for k in ("images", "labels", "split", "boxes")}
  expected = {}
  image_id = 0
  for cid, name in CUB_CLASSES.items():
    folder = f"{cid:03d}.{name}"
    (cub_dir / "images" / folder).mkdir()
    (seg_dir / folder).mkdir(parents=True)
    for n in range(4):
      image_id += 1
      h, w = int(rng.integers(24, 48)), int(rng.integers(24, 48))
      pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
      img = Image.fromarray(pixels)
      if image_id == 2:
        img = img.convert("L")  # Grayscale JPEG.
      if image_id == 7:
        img = img.convert("CMYK")  # CMYK JPEG.
      rel = f"{folder}/{name}_{n:04d}_{image_id}.jpg"
      img.save(cub_dir / "images" / rel, format="JPEG", quality=95)
      x, y = float(rng.integers(0, w // 2)), float(rng.integers(0, h // 2))
      bw, bh = float(rng.integers(4, w)), float(rng.integers(4, h))  # May pass the edge.
      mask = np.zeros((h, w), np.uint8)
      mask[int(y):int(y + bh), int(x):int(x + bw)] = 255
      Image.fromarray(mask).save(seg_dir / rel.replace(".jpg", ".png"))
      is_train = int(n < 3)
      lines["images"].append(f"{image_id} {rel}")
      lines["labels"].append(f"{image_id} {cid}")
      lines["split"].append(f"{image_id} {is_train}")
      lines["boxes"].append(f"{image_id} {x} {y} {bw} {bh}")
      expected[rel] = dict(label=sorted(CUB_CLASSES).index(cid), train=bool(is_train),
                           box=[x, y, min(x + bw, w), min(y + bh, h)],
                           path=cub_dir / "images" / rel, mask=mask)
  for key, fname in [("images", "images.txt"), ("labels", "image_class_labels.txt"),
                     ("split", "train_test_split.txt"), ("boxes", "bounding_boxes.txt")]:
    (cub_dir / fname).write_text("\n".join(lines[key]) + "\n")
  (cub_dir / "classes.txt").write_text(
      "".join(f"{cid} {cid:03d}.{name}\n" for cid, name in sorted(CUB_CLASSES.items())))
  (root / "attributes.txt").write_text("1 has_bill_shape::curved\n")
  return expected


def make_cub_archive(directory, source_root=None, rng=None) -> dict:
  """``directory/CUB_200_2011.tgz`` (a manual dir for the cub builder) of a :func:`make_cub_folder`
  tree made in ``source_root`` (default: the sibling ``<directory>_source``: a folder inside the
  manual dir would be read instead of the tgz); returns the tree's expected records."""
  directory = pathlib.Path(directory)
  root = pathlib.Path(source_root or directory.with_name(directory.name + "_source"))
  expected = make_cub_folder(root, rng)
  directory.mkdir(parents=True, exist_ok=True)
  with tarfile.open(directory / "CUB_200_2011.tgz", "w:gz") as tar:
    tar.add(root / "CUB_200_2011", arcname="CUB_200_2011")
    tar.add(root / "attributes.txt", arcname="attributes.txt")
  return expected


# ----------------------------------------------------------------------------------------------
# ILSVRC2012 (imagenet_loc).

IMAGENET_WNIDS = ["n01530575", "n01440764", "n02119789"]  # not sorted: labels follow sorted order


def jpeg_bytes(rng, mode="RGB", size=(40, 30)) -> bytes:
  """A random ``size`` (w, h) JPEG saved in ``mode`` (RGB, L, CMYK)."""
  img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
  buf = io.BytesIO()
  img.convert(mode).save(buf, format="JPEG", quality=95)
  return buf.getvalue()


def _add(tar, name, data):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  tar.addfile(info, io.BytesIO(data))


def voc_xml(stem, width, height, objects) -> bytes:
  """One PASCAL VOC annotation of ``objects`` [(wnid, (x0, y0, x1, y1))]."""
  objs = "".join(f"<object><name>{w}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                 f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for w, b in objects)
  return (f"<annotation><folder>val</folder><filename>{stem}</filename><size><width>{width}"
          f"</width><height>{height}</height><depth>3</depth></size>{objs}</annotation>").encode()


def make_imagenet_manual_dir(directory, train_boxes: bool = True, max_boxes_in_val: int = 2,
                             images_per_class: int = 2, val_boxes_format: str = "csv",
                             with_train: bool = True, rng=None, val_images: int = 3):
  """A tiny ILSVRC2012 manual dir: per-class train tars of ``images_per_class`` 40 x 30 JPEGs
  (``IMAGENET_WNIDS[0]``'s second one CMYK), a flat val tar of ``val_images`` (at least 3; those
  after the third of the classes in turn, one box each) images, their boxes in
  ``LOC_val_solution.csv`` (``val_boxes_format='csv'``) or ``ILSVRC2012_bbox_val_v3.tgz`` ('xml'),
  the first val image with ``max_boxes_in_val`` boxes (at least 1), and with ``train_boxes``
  ``LOC_train_solution.csv`` boxing one train image (``<IMAGENET_WNIDS[1]>_0``, at 3 4 20 25).

  Returns ``(expected, val)``: ``expected[split][image_id] = (wnid, jpeg bytes)`` and
  ``val[stem] = (wnid, [boxes as annotated])``.
  """
  manual = pathlib.Path(directory)
  rng = np.random.default_rng(0) if rng is None else rng
  manual.mkdir(parents=True, exist_ok=True)
  expected = {"train": {}, "validation": {}}
  if with_train:
    with tarfile.open(manual / imagenet_loc.TRAIN_TAR, "w") as outer:
      for wnid in IMAGENET_WNIDS:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as inner:
          for k in range(images_per_class):
            data = jpeg_bytes(rng, "CMYK" if (wnid, k) == (IMAGENET_WNIDS[0], 1) else "RGB")
            _add(inner, f"{wnid}_{k}.JPEG", data)
            expected["train"][f"train/{wnid}/{wnid}_{k}.JPEG"] = (wnid, data)
        _add(outer, f"{wnid}.tar", buf.getvalue())
    if train_boxes:  # One train image boxed, the others without boxes (as most of ImageNet's).
      (manual / imagenet_loc.TRAIN_CSV).write_text(
          f"ImageId,PredictionString\n{IMAGENET_WNIDS[1]}_0,{IMAGENET_WNIDS[1]} 3 4 20 25 \n")
  first = [(1, 2, 30, 20), (10, 5, 39, 29)]
  first += [(k % 8, k % 6, 20 + k % 20, 15 + k % 15) for k in range(len(first), max_boxes_in_val)]
  val = {"ILSVRC2012_val_00000001": (IMAGENET_WNIDS[2], first[:max(1, max_boxes_in_val)]),
         "ILSVRC2012_val_00000002": (IMAGENET_WNIDS[0], [(0, 0, 39, 29)]),
         "ILSVRC2012_val_00000003": (IMAGENET_WNIDS[1], [(5, 6, 50, 12)])}  # x1 clipped
  for k in range(4, val_images + 1):
    val[f"ILSVRC2012_val_{k:08d}"] = (IMAGENET_WNIDS[k % len(IMAGENET_WNIDS)], [(2, 3, 30, 25)])
  with tarfile.open(manual / imagenet_loc.VAL_TAR, "w") as tar:
    for stem, (wnid, _) in val.items():
      data = jpeg_bytes(rng)
      _add(tar, f"{stem}.JPEG", data)
      expected["validation"][f"val/{stem}.JPEG"] = (wnid, data)
  if val_boxes_format == "csv":
    lines = ["ImageId,PredictionString"] + [
        f"{stem}," + " ".join(f"{wnid} {' '.join(map(str, b))}" for b in boxes)
        for stem, (wnid, boxes) in val.items()]
    (manual / imagenet_loc.VAL_CSV).write_text("\n".join(lines) + "\n")
  else:
    with tarfile.open(manual / imagenet_loc.VAL_XML_TGZ, "w:gz") as tar:
      for stem, (wnid, boxes) in val.items():
        _add(tar, f"val/{stem}.xml", voc_xml(stem, 40, 30, [(wnid, b) for b in boxes]))
  return expected, val


# ----------------------------------------------------------------------------------------------
# Tiny-ImageNet-200.

TINY_WNIDS = ["n0000002", "n0000001"]  # not sorted: labels follow sorted order


def make_tiny_imagenet_folder(root, rng=None, val_images: int = 1) -> pathlib.Path:
  """``root/tiny-imagenet-200/`` in the official layout: 2 classes x 3 train 64 x 64 JPEGs (the
  first of n0000001 grayscale; boxes ``k k+1 40+k 63``), ``val_0.JPEG`` boxing the whole image
  (and ``val_images - 1`` more: ``val_2.JPEG``, ... of the classes in turn), and a val line
  (``val_1``) of a class outside ``wnids.txt``; returns that folder."""
  rng = np.random.default_rng(0) if rng is None else rng
  base = pathlib.Path(root) / "tiny-imagenet-200"
  (base / "val" / "images").mkdir(parents=True)
  (base / "wnids.txt").write_text("\n".join(TINY_WNIDS) + "\n")
  (base / "words.txt").write_text("n0000001\tone\nn0000002\ttwo\nn0000003\tthree\n")
  for wnid in TINY_WNIDS:
    (base / "train" / wnid / "images").mkdir(parents=True)
    lines = []
    for k in range(3):
      img = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
      if wnid == "n0000001" and k == 0:
        img = img.convert("L")
      img.save(base / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", format="JPEG")
      lines.append(f"{wnid}_{k}.JPEG\t{k}\t{k + 1}\t{40 + k}\t63")
    (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("\n".join(lines) + "\n")
  Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(base / "val/images/val_0.JPEG")
  lines = ["val_0.JPEG\tn0000001\t0\t0\t63\t63", "val_1.JPEG\tn0000003\t1\t1\t5\t5"]
  for k in range(2, val_images + 1):
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        base / "val" / "images" / f"val_{k}.JPEG")
    lines.append(f"val_{k}.JPEG\t{TINY_WNIDS[k % 2]}\t2\t3\t50\t60")
  (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
  return base


def make_tiny_imagenet_zip(directory, rng=None, **folder_kwargs) -> pathlib.Path:
  """``directory/tiny-imagenet-200.zip`` of a :func:`make_tiny_imagenet_folder` tree (its
  ``folder_kwargs``; a manual dir for the tiny_imagenet builder, which reads the zip in place);
  returns the zip's path."""
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory() as tmp:
    make_tiny_imagenet_folder(tmp, rng, **folder_kwargs)
    archive = shutil.make_archive(str(directory / tiny_imagenet.ARCHIVE[:-len(".zip")]), "zip",
                                  root_dir=tmp, base_dir="tiny-imagenet-200")
  return pathlib.Path(archive)
