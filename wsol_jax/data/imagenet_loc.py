"""TFDS builder ``imagenet_loc``: ILSVRC2012 classification images with localisation boxes.

ImageNet cannot be downloaded without an account, so the files come from the manual dir:

* ``ILSVRC2012_img_train.tar`` (one ``<wnid>.tar`` of JPEGs per class) -> split ``train``;
* ``ILSVRC2012_img_val.tar`` (flat ``ILSVRC2012_val_%08d.JPEG``) -> split ``validation``;
* val boxes and labels, from either ``LOC_val_solution.csv`` (Kaggle: ``ImageId,PredictionString``
  with ``wnid x0 y0 x1 y1`` repeated) or ``ILSVRC2012_bbox_val_v3.tgz`` (one PASCAL VOC XML per
  image). Every box of an image is kept ([N, 4]); the label is the wnid of its boxes;
* optional train boxes: ``LOC_train_solution.csv`` or ``ILSVRC2012_bbox_train_v2.tar.gz`` (XMLs,
  possibly in per-class archives). Only ~40% of train images have boxes; the others get an empty
  ``bboxes`` [0, 4] (WSOL trains on labels alone; the pipeline pads and masks box rows).

Kaggle's extracted ``ILSVRC/Data/CLS-LOC/{train/<wnid>/,val/}`` folders work in place of the tars.
Either split may be absent (e.g. a validation-only build).

Labels: 0..999 in sorted wnid order, i.e. the line order of the usual synsets list
(``imagenet_synsets.txt``, Keras and torchvision's class indices). The classes are the train
archive's ``<wnid>.tar`` members (or folders); without a train split, ``LOC_synset_mapping.txt``
(or a ``*synsets*.txt`` of ``wnid name`` lines) in the manual dir; failing that, the val wnids.
Descriptions from such a file go to ``info.metadata["descriptions"]``.

Boxes are stored as the annotation's numbers, as wsolevaluation reads them (so its
``int(x * 224 / W)`` GT is reproduced), clipped to the image. ``info.metadata["max_boxes"]`` is
the most boxes any image has (``data.max_boxes`` must be at least that high: ``train`` checks it at
start-up) and ``info.metadata["box_counts"]`` the same per split, with the number of images that
have a box (see :mod:`wsol_jax.data.wsol_builder`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import pathlib
import tarfile
import xml.etree.ElementTree as ET
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds

from wsol_jax.data import registry
from wsol_jax.data import decode
from wsol_jax.data import wsol_builder

TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
VAL_CSV = "LOC_val_solution.csv"
VAL_XML_TGZ = "ILSVRC2012_bbox_val_v3.tgz"
TRAIN_CSV = "LOC_train_solution.csv"
TRAIN_XML_TGZ = "ILSVRC2012_bbox_train_v2.tar.gz"
SYNSET_FILES = ("LOC_synset_mapping.txt", "imagenet_synsets.txt", "synsets.txt")
KAGGLE_ROOT = "ILSVRC/Data/CLS-LOC"
_HOMEPAGE = "https://image-net.org/challenges/LSVRC/2012/"
_CITATION = """@article{ILSVRC15,
  author = {Olga Russakovsky and Jia Deng and Hao Su and Jonathan Krause and Sanjeev Satheesh and
            Sean Ma and Zhiheng Huang and Andrej Karpathy and Aditya Khosla and Michael Bernstein
            and Alexander C. Berg and Li Fei-Fei},
  title = {{ImageNet Large Scale Visual Recognition Challenge}},
  journal = {International Journal of Computer Vision (IJCV)},
  year = {2015}, volume = {115}, number = {3}, pages = {211-252}}"""

Boxes = dict[str, list[tuple[str, tuple[float, float, float, float]]]]  # stem -> [(wnid, xyxy)]


# ----------------------------------------------------------------------------------------------
# Annotations.


def parse_solution_csv(text: str, where: str) -> Boxes:
  """Kaggle's ``ImageId,PredictionString`` CSV -> {image stem: [(wnid, xyxy), ...]}."""
  out: Boxes = {}
  rows = csv.reader(io.StringIO(text))
  header = next(rows, None)
  if header is None or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
    raise ValueError(f"{where}: expected the header 'ImageId,PredictionString', got {header}")
  for n, row in enumerate(rows, 2):
    if not row:
      continue
    if len(row) != 2:
      raise ValueError(f"{where} line {n}: expected 2 columns, got {len(row)}")
    fields = row[1].split()
    if not fields or len(fields) % 5:
      raise ValueError(f"{where} line {n}: PredictionString must be 'wnid x0 y0 x1 y1' repeated")
    try:
      out[row[0].strip()] = [(fields[i], tuple(float(v) for v in fields[i + 1:i + 5]))
                             for i in range(0, len(fields), 5)]
    except ValueError:
      raise ValueError(f"{where} line {n}: non-numeric box in {row[1]!r}") from None
  return out


def parse_voc_xml(data: bytes, where: str) -> tuple[str, list[tuple[str, tuple[float, ...]]]]:
  """One PASCAL VOC annotation -> (image stem, [(wnid, xyxy), ...])."""
  try:
    root = ET.fromstring(data)
    stem = os.path.splitext(root.findtext("filename", "").strip())[0]
    boxes = []
    for obj in root.iter("object"):
      bb = obj.find("bndbox")
      boxes.append((obj.findtext("name", "").strip(),
                    tuple(float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))))
  except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
    raise ValueError(f"{where}: not a valid PASCAL VOC annotation ({type(e).__name__}: {e})"
                     ) from None
  return stem or os.path.splitext(os.path.basename(where))[0], boxes


def read_xml_archive(path: str) -> Boxes:
  """All ``*.xml`` of a .tgz / .tar.gz, also inside nested per-class archives."""
  out: Boxes = {}

  def scan(tar: tarfile.TarFile, where: str):
    for member in tar:
      if not member.isfile():
        continue
      name = member.name
      if name.endswith(".xml"):
        stem, boxes = parse_voc_xml(tar.extractfile(member).read(), f"{where}:{name}")
        out[stem] = boxes
      elif name.endswith((".tar", ".tar.gz", ".tgz")):
        with tarfile.open(fileobj=io.BytesIO(tar.extractfile(member).read())) as inner:
          scan(inner, f"{where}:{name}")

  with tarfile.open(path) as tar:
    scan(tar, path)
  return out


def read_boxes(manual: str, csv_name: str, xml_name: str, required: bool) -> Boxes | None:
  """Boxes from ``csv_name`` or ``xml_name`` in ``manual`` (the CSV when both exist)."""
  csv_path, xml_path = os.path.join(manual, csv_name), os.path.join(manual, xml_name)
  if os.path.isfile(csv_path):
    return parse_solution_csv(pathlib.Path(csv_path).read_text(), csv_path)
  if os.path.isfile(xml_path):
    return read_xml_archive(xml_path)
  if required:
    raise FileNotFoundError(f"imagenet_loc: the validation boxes are missing: put {csv_name} or "
                            f"{xml_name} in the manual dir {manual}")
  return None


def read_synsets(manual: str) -> tuple[list[str], dict[str, str]] | None:
  """(wnids in file order, {wnid: description}) from a synsets file in ``manual``, if any."""
  names = list(SYNSET_FILES) + sorted(f for f in os.listdir(manual) if "synsets" in f
                                      and f.endswith(".txt") and f not in SYNSET_FILES)
  for name in names:
    path = os.path.join(manual, name)
    if os.path.isfile(path):
      pairs = [line.strip().partition(" ") for line in pathlib.Path(path).read_text().splitlines()
               if line.strip()]
      return [p[0] for p in pairs], {p[0]: p[2].strip() for p in pairs}
  return None


# ----------------------------------------------------------------------------------------------
# Images: (image_id, wnid or None, bytes) from the tars or Kaggle's folders, in a fixed order.


def train_classes(source: str) -> list[str]:
  """Sorted wnids of the train archive (``<wnid>.tar`` members) or folder."""
  if os.path.isdir(source):
    return sorted(d for d in os.listdir(source) if os.path.isdir(os.path.join(source, d)))
  with tarfile.open(source) as tar:
    return sorted(os.path.splitext(os.path.basename(m.name))[0] for m in tar.getmembers()
                  if m.isfile() and m.name.endswith(".tar"))


def iter_train(source: str) -> Iterator[tuple[str, str, bytes]]:
  """(image_id 'train/<wnid>/<file>', wnid, bytes), classes and files in sorted order."""
  if os.path.isdir(source):
    for wnid in train_classes(source):
      for name in sorted(os.listdir(os.path.join(source, wnid))):
        yield (f"train/{wnid}/{name}", wnid,
               pathlib.Path(source, wnid, name).read_bytes())
    return
  with tarfile.open(source) as outer:
    members = sorted((m for m in outer.getmembers() if m.isfile() and m.name.endswith(".tar")),
                     key=lambda m: m.name)
    for member in members:
      wnid = os.path.splitext(os.path.basename(member.name))[0]
      with tarfile.open(fileobj=outer.extractfile(member)) as inner:
        for image in sorted((m for m in inner.getmembers() if m.isfile()), key=lambda m: m.name):
          name = os.path.basename(image.name)
          yield f"train/{wnid}/{name}", wnid, inner.extractfile(image).read()


def iter_val(source: str) -> Iterator[tuple[str, None, bytes]]:
  """(image_id 'val/<file>', None, bytes) in file-name order."""
  if os.path.isdir(source):
    for name in sorted(os.listdir(source)):
      yield f"val/{name}", None, pathlib.Path(source, name).read_bytes()
    return
  with tarfile.open(source) as tar:
    for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
      yield f"val/{os.path.basename(member.name)}", None, tar.extractfile(member).read()


def _stem(image_id: str) -> str:
  return os.path.splitext(os.path.basename(image_id))[0]


# ----------------------------------------------------------------------------------------------


@registry.DATASETS.register("imagenet_loc")
class ImagenetLoc(wsol_builder.WsolBuilder):
  """ILSVRC2012: 1.28M train images (boxes where annotated), 50,000 val images with boxes."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  EVAL_SPLIT = "validation"
  MANUAL_FILES = (f"{TRAIN_TAR} and/or {VAL_TAR} (or Kaggle's extracted {KAGGLE_ROOT}/), with "
                  f"{VAL_CSV} or {VAL_XML_TGZ} for the val boxes (optional train boxes: "
                  f"{TRAIN_CSV} or {TRAIN_XML_TGZ})")
  TRAIN_BOX_FILES = f"{TRAIN_CSV} or {TRAIN_XML_TGZ}"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (f"Download from {_HOMEPAGE} (or Kaggle's ImageNet Object "
                                  f"Localization Challenge) and place {MANUAL_FILES} in the "
                                  "manual dir.")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.wsol_info(
        description="ILSVRC2012 with every localisation box of an image (val: all images).",
        homepage=_HOMEPAGE, citation=_CITATION)

  def _sources(self, manual: str) -> tuple[str | None, str | None]:
    """The train and val image sources (tar or Kaggle folder) in the manual dir."""
    kaggle = os.path.join(manual, KAGGLE_ROOT)
    train = next((p for p in (os.path.join(manual, TRAIN_TAR), os.path.join(kaggle, "train"))
                  if os.path.exists(p)), None)
    val = next((p for p in (os.path.join(manual, VAL_TAR), os.path.join(kaggle, "val"))
                if os.path.exists(p)), None)
    if train is None and val is None:
      raise FileNotFoundError(f"imagenet_loc: neither {TRAIN_TAR} nor {VAL_TAR} (nor "
                              f"{KAGGLE_ROOT}/) in the manual dir {manual}")
    return train, val

  def _split_generators(self, dl_manager):
    manual = self.find_manual_dir(dl_manager)
    if manual is None:
      raise FileNotFoundError(f"imagenet_loc cannot be downloaded automatically: "
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    train, val = self._sources(manual)
    val_boxes = read_boxes(manual, VAL_CSV, VAL_XML_TGZ, required=val is not None) if val else None
    train_boxes = read_boxes(manual, TRAIN_CSV, TRAIN_XML_TGZ, required=False) if train else None
    synsets = read_synsets(manual)
    if train is not None:
      wnids = train_classes(train)
    elif synsets is not None:
      wnids = sorted(synsets[0])
    else:
      wnids = sorted({w for boxes in val_boxes.values() for w, _ in boxes})
      logging.warning("imagenet_loc: no train split and no synsets file: the %d classes (and so "
                      "the labels) are those seen in the val boxes", len(wnids))
    self.set_class_names(wnids)
    self.info.metadata["descriptions"] = [synsets[1].get(w, "") if synsets else "" for w in wnids]
    label_of = {w: i for i, w in enumerate(wnids)}
    splits = {}
    if train is not None:
      splits["train"] = self._generate_examples(iter_train(train), train_boxes or {}, label_of)
    if val is not None:
      splits["validation"] = self._generate_examples(iter_val(val), val_boxes, label_of)
    return self.with_box_counts(splits)

  def _generate_examples(self, images, boxes: Boxes, label_of: dict[str, int]):
    def to_kwargs(item):
      image_id, wnid, data = item
      annotated = boxes.get(_stem(image_id), [])
      if wnid is None:  # val: the class comes from the boxes
        if not annotated:
          raise decode.BadExampleError(f"{image_id}: no box annotation (so no label)")
        wnid = annotated[0][0]
      if wnid not in label_of:
        raise decode.BadExampleError(f"{image_id}: class {wnid} is not one of the "
                                     f"{len(label_of)} classes")
      xyxy = np.asarray([b for w, b in annotated if w == wnid], np.float32).reshape(-1, 4)
      return image_id, dict(image_id=image_id, label=label_of[wnid], bboxes_xyxy=xyxy, data=data,
                            name=image_id)

    yield from self.generate(images, to_kwargs)

  def try_example(self, **kwargs):
    """As the base class, but a train image without any box annotation keeps an empty [0, 4]."""
    if len(kwargs["bboxes_xyxy"]):
      return super().try_example(**kwargs)
    try:
      _, stored = decode.load_rgb_image(kwargs["data"], name=kwargs["name"])
    except decode.BadExampleError as e:
      self._bad.handle(e)
      return None
    return {"image": stored, "label": int(kwargs["label"]),
            "bboxes": np.zeros((0, 4), np.float32), "image_id": kwargs["image_id"]}
