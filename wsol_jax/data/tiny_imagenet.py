"""TFDS builder ``tiny_imagenet``: Tiny-ImageNet-200 (Le & Yang, 2015) with boxes, train + val.

Source: ``tiny-imagenet-200.zip`` in the official layout -- downloaded when online, or found in
the manual dir as the zip (read in place, not extracted), its extracted ``tiny-imagenet-200/``
folder, or that folder itself:

* ``wnids.txt`` (the classes), ``words.txt`` (wnid -> description);
* ``train/<wnid>/<wnid>_boxes.txt`` (``file x0 y0 x1 y1``) + ``train/<wnid>/images/*.JPEG``;
* ``val/val_annotations.txt`` (``file wnid x0 y0 x1 y1``) + ``val/images/*.JPEG``.
  (``test/`` has no labels and is not built.)

Labels are 0..C-1 in sorted wnid order (as torchvision's ImageFolder); class names are the
wnids, and ``info.metadata["descriptions"]`` holds their words. Validation lines whose wnid is not
in ``wnids.txt`` are ignored (counted in the log), so a class subset in the official layout works.

Boxes: Tiny-ImageNet's coordinates are inclusive pixel indices (``x1`` = last pixel of the box,
e.g. ``0 0 63 63`` is the whole 64 x 64 image). In our continuous pixel-edge xyxy the box is
``(x0, y0, x1 + 1, y1 + 1)``, covering exactly the annotated pixels.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from wsol_jax.data import registry
from wsol_jax.data import source_tree
from wsol_jax.data import wsol_builder

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
ARCHIVE = "tiny-imagenet-200.zip"
_CITATION = """@article{le2015tiny,
  title = {Tiny ImageNet Visual Recognition Challenge},
  author = {Le, Ya and Yang, Xuan},
  journal = {CS 231N},
  year = {2015}}"""


def inclusive_to_xyxy(x0: float, y0: float, x1: float, y1: float) -> tuple[float, ...]:
  """Inclusive pixel-index corners -> continuous pixel-edge xyxy."""
  return (x0, y0, x1 + 1.0, y1 + 1.0)


def read_tiny_records(tree: source_tree.SourceTree):
  """Parse the annotations under ``tree`` (the tiny-imagenet-200 folder).

  Returns ``(wnids, descriptions, {"train": [(image_id, label, box_xyxy)], "validation": [...]})``
  with ``image_id`` the path under the root and ``wnids`` sorted (``label`` indexes it).
  """
  wnids = sorted(set(tree.read_lines("wnids.txt")))
  words = {}
  if tree.exists("words.txt"):
    for line in tree.read_lines("words.txt"):
      wnid, _, text = line.partition("\t")
      words[wnid] = text.strip()
  label_of = {w: i for i, w in enumerate(wnids)}

  def box(fields, where):
    try:
      return inclusive_to_xyxy(*(float(v) for v in fields))
    except ValueError:
      raise ValueError(f"{where}: non-numeric box {fields}") from None

  records = {"train": [], "validation": []}
  for wnid in wnids:
    name = f"train/{wnid}/{wnid}_boxes.txt"
    for n, line in enumerate(tree.read_lines(name), 1):
      where = f"{tree.describe(name)} line {n}"
      fields = source_tree.parse_fields(line, 5, where=where)
      records["train"].append((f"train/{wnid}/images/{fields[0]}", label_of[wnid],
                               box(fields[1:], where)))
  unknown = 0
  name = "val/val_annotations.txt"
  for n, line in enumerate(tree.read_lines(name), 1):
    where = f"{tree.describe(name)} line {n}"
    fields = source_tree.parse_fields(line, 6, where=where)
    if fields[1] not in label_of:
      unknown += 1
      continue
    records["validation"].append((f"val/images/{fields[0]}", label_of[fields[1]],
                                  box(fields[2:], where)))
  if unknown:
    logging.info("tiny_imagenet: %d validation lines of classes not in wnids.txt ignored", unknown)
  return wnids, [words.get(w, "") for w in wnids], records


@registry.DATASETS.register("tiny_imagenet")
class TinyImagenet(wsol_builder.WsolBuilder):
  """Tiny-ImageNet-200: 64 x 64 images, 100,000 train / 10,000 validation, one box each."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  EVAL_SPLIT = "validation"
  MANUAL_FILES = f"{ARCHIVE} (or tiny-imagenet*.zip) or its extracted tiny-imagenet-200/ folder"
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"Place {MANUAL_FILES} in the manual dir (from {URL})."

  def _info(self) -> tfds.core.DatasetInfo:
    return self.wsol_info(
        description="Tiny-ImageNet-200 with bounding boxes for train and validation.",
        homepage="https://www.kaggle.com/c/tiny-imagenet", citation=_CITATION)

  def _find_tree(self, dl_manager) -> source_tree.SourceTree:
    """The root holding wnids.txt: a zip in the manual dir, a folder there, or the download."""
    manual = self.find_manual_dir(dl_manager)
    if manual:
      # The official name first, then renamed cuts such as tiny-imagenet-200-sub20.zip.
      zips = [ARCHIVE] + sorted(f for f in os.listdir(manual)
                                if f.startswith("tiny-imagenet") and f.endswith(".zip"))
      locations = [os.path.join(manual, z) for z in dict.fromkeys(zips)
                   if os.path.isfile(os.path.join(manual, z))] + [manual]
    else:
      locations = [os.fspath(dl_manager.download(URL))]
    for location in locations:
      found = source_tree.SourceTree(location).find_root("wnids.txt", max_depth=2)
      if found is not None:
        return found
    raise FileNotFoundError(
        f"tiny_imagenet: no wnids.txt (official layout) in {', '.join(locations)}")

  def _split_generators(self, dl_manager):
    tree = self._find_tree(dl_manager)
    wnids, descriptions, records = read_tiny_records(tree)
    self.set_class_names(wnids)
    self.info.metadata["descriptions"] = descriptions
    return self.with_box_counts({split: self._generate_examples(tree, recs)
                                 for split, recs in records.items()})

  def _generate_examples(self, tree, records):
    def to_kwargs(record):
      image_id, label, box = record
      return image_id, dict(image_id=image_id, label=label, bboxes_xyxy=np.asarray([box]),
                            data=tree.read_bytes(image_id), name=tree.describe(image_id))

    yield from self.generate(records, to_kwargs)
