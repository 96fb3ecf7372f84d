"""TFDS builder ``cub``: CUB-200-2011 (Wah et al., 2011) with boxes, optionally masks.

Source: ``CUB_200_2011.tgz`` -- downloaded from Caltech DATA when online, or found in the manual
dir, which may hold the tgz, its extracted ``CUB_200_2011/`` folder, or be that folder. The
``with_masks`` config also needs the segmentations (``segmentations.tgz`` or its extracted
``segmentations/`` folder, in the manual dir or next to ``images/``; downloaded when online).

Read from the files (all ids 1-based, one record per line):

* ``images.txt`` (id, path under ``images/``), ``image_class_labels.txt`` (id, class id),
  ``train_test_split.txt`` (id, 1 = train), ``bounding_boxes.txt`` (id, x, y, w, h),
  ``classes.txt`` (class id, name).
* Classes are those of the images listed; labels are 0..C-1 in increasing class-id order, so a
  subset of classes works unchanged. A class whose whole image folder is absent is left out with
  a warning (a folder cut down by deleting class folders also works); a single missing image is a
  bad example (error, or skipped with ``skip_bad_examples``).
* Boxes: ``(x, y, w, h)`` -> xyxy ``(x, y, x + w, y + h)`` taken as continuous pixel edges, i.e.
  exactly the numbers wsolevaluation uses, so the metric's ``int(x * 224 / W)`` matches it.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from wsol_jax.data import registry
from wsol_jax.data import source_tree
from wsol_jax.data import wsol_builder

URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1"
SEGMENTATIONS_URL = "https://data.caltech.edu/records/w9d68-gec53/files/segmentations.tgz?download=1"
_HOMEPAGE = "https://www.vision.caltech.edu/datasets/cub_200_2011/"
_CITATION = """@techreport{WahCUB_200_2011,
  title = {The Caltech-UCSD Birds-200-2011 Dataset},
  author = {Wah, C. and Branson, S. and Welinder, P. and Perona, P. and Belongie, S.},
  institution = {California Institute of Technology},
  number = {CNS-TR-2011-001},
  year = {2011}}"""


@dataclasses.dataclass(eq=False)
class CubConfig(tfds.core.BuilderConfig):
  with_masks: bool = False


@dataclasses.dataclass(frozen=True)
class CubRecord:
  image_id: str  # path under images/
  label: int
  is_train: bool
  bbox_xyxy: tuple[float, float, float, float]


def read_cub_records(tree: source_tree.SourceTree
                     ) -> tuple[list[CubRecord], list[str], list[int]]:
  """Parse the CUB annotation files under ``tree`` (the CUB_200_2011 folder).

  Returns (records, class_names, class_ids): records of the kept images, in id order;
  ``class_names[label]`` and the original 1-based ``class_ids[label]``.
  """
  def table(name: str, count: int) -> dict[int, list[str]]:
    out = {}
    for n, line in enumerate(tree.read_lines(name), 1):
      where = f"{tree.describe(name)} line {n}"
      fields = source_tree.parse_fields(line, count, where=where)
      if not fields[0].isdigit():
        raise ValueError(f"{where}: the first field must be an integer id: {line!r}")
      out[int(fields[0])] = fields[1:]
    return out

  paths = table("images.txt", 2)
  labels = table("image_class_labels.txt", 2)
  splits = table("train_test_split.txt", 2)
  bboxes = table("bounding_boxes.txt", 5)
  classes = {}
  for n, line in enumerate(tree.read_lines("classes.txt"), 1):
    cid, _, name = line.partition(" ")
    if not cid.isdigit() or not name:
      raise ValueError(f"{tree.describe('classes.txt')} line {n}: expected 'id name': {line!r}")
    classes[int(cid)] = name.strip()

  if not _is_dir(tree, "images"):
    raise FileNotFoundError(f"no images/ folder in {tree.describe('').rstrip('/')}")
  present = tree.subdirs("images")
  missing_dirs = set()
  kept = []
  for image_id in sorted(paths):
    for name, tab in (("image_class_labels.txt", labels), ("train_test_split.txt", splits),
                      ("bounding_boxes.txt", bboxes)):
      if image_id not in tab:
        raise ValueError(f"{tree.describe(name)}: no line for image id {image_id} "
                         f"({paths[image_id][0]})")
    folder = paths[image_id][0].split("/")[0]
    if "/" in paths[image_id][0] and folder not in present:
      missing_dirs.add(folder)
      continue
    kept.append(image_id)
  if missing_dirs:
    logging.warning("cub: %d class folder(s) absent under %s, their classes are left out: %s",
                    len(missing_dirs), tree.describe("images"), ", ".join(sorted(missing_dirs)))

  class_ids = sorted({int(labels[i][0]) for i in kept})
  for cid in class_ids:
    if cid not in classes:
      raise ValueError(f"{tree.describe('classes.txt')}: no name for class id {cid}")
  label_of = {cid: label for label, cid in enumerate(class_ids)}
  records = []
  for i in kept:
    split = splits[i][0]
    if split not in ("0", "1"):
      raise ValueError(f"{tree.describe('train_test_split.txt')}: image id {i}: is_train must be "
                       f"0 or 1, got {split!r}")
    try:
      x, y, w, h = (float(v) for v in bboxes[i])
    except ValueError:
      raise ValueError(f"{tree.describe('bounding_boxes.txt')}: image id {i}: non-numeric box "
                       f"{bboxes[i]}") from None
    records.append(CubRecord(paths[i][0], label_of[int(labels[i][0])], split == "1",
                             (x, y, x + w, y + h)))
  return records, [classes[c] for c in class_ids], class_ids


def _is_dir(tree: source_tree.SourceTree, rel: str) -> bool:
  try:
    tree.subdirs(rel)
    return True
  except OSError:
    return False


@registry.DATASETS.register("cub")
class Cub(wsol_builder.WsolBuilder):
  """CUB-200-2011: 5,994 train / 5,794 test images of 200 bird species, one box each."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
      CubConfig(name="default", description="Images, labels, boxes."),
      CubConfig(name="with_masks", with_masks=True,
                description="Images, labels, boxes and segmentation masks."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "default"
  EVAL_SPLIT = "test"
  MANUAL_FILES = ("CUB_200_2011.tgz or its extracted CUB_200_2011/ folder (with_masks: also "
                  "segmentations.tgz or segmentations/)")
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Place {MANUAL_FILES} in the manual dir (from {_HOMEPAGE}); a subset of the class folders "
      "works too.")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.wsol_info(
        with_mask=self.builder_config.with_masks,
        description="Caltech-UCSD Birds-200-2011 with bounding boxes (and segmentations).",
        homepage=_HOMEPAGE, citation=_CITATION)

  def _extract(self, dl_manager, archive) -> str:
    return source_tree.extract_tar(archive, os.path.join(os.fspath(dl_manager.download_dir),
                                                         "extracted"))

  def _locate(self, dl_manager, archive: str, marker: str, url: str, what: str
              ) -> source_tree.SourceTree:
    """The folder holding ``marker``: in the manual dir (as a folder or ``archive``) or download."""
    manual = self.find_manual_dir(dl_manager)
    if manual:
      found = source_tree.SourceTree(manual).find_root(marker, max_depth=2)
      if found is not None:
        return found
      if os.path.isfile(os.path.join(manual, archive)):
        extracted = self._extract(dl_manager, os.path.join(manual, archive))
        found = source_tree.SourceTree(extracted).find_root(marker, max_depth=2)
        if found is not None:
          return found
        raise FileNotFoundError(f"{os.path.join(manual, archive)} holds no {marker}")
      raise FileNotFoundError(
          f"{what}: neither {archive} nor a folder with {marker} in the manual dir {manual}")
    extracted = self._extract(dl_manager, dl_manager.download(url))
    found = source_tree.SourceTree(extracted).find_root(marker, max_depth=2)
    if found is None:
      raise FileNotFoundError(f"the download of {url} holds no {marker}")
    return found

  def _split_generators(self, dl_manager):
    tree = self._locate(dl_manager, "CUB_200_2011.tgz", "images.txt", URL, "CUB-200-2011")
    masks = None
    if self.builder_config.with_masks:
      masks = self._find_segmentations(dl_manager, tree)
    records, names, _ = read_cub_records(tree)
    self.set_class_names(names)
    splits = {"train": [r for r in records if r.is_train],
              "test": [r for r in records if not r.is_train]}
    for name, recs in splits.items():
      if not recs:  # TFDS cannot write an empty split; say so instead of failing obscurely.
        logging.warning("cub: no %s images in train_test_split.txt; the split is left out", name)
    return self.with_box_counts({name: self._generate_examples(tree, masks, recs)
                                 for name, recs in splits.items() if recs})

  def _find_segmentations(self, dl_manager, tree: source_tree.SourceTree
                          ) -> source_tree.SourceTree:
    """segmentations/ next to CUB_200_2011/ or in the manual dir, segmentations.tgz, or download."""
    cub_dir = tree.describe("").rstrip("/")
    manual = self.find_manual_dir(dl_manager)
    candidates = [os.path.join(cub_dir, "segmentations"),
                  os.path.join(os.path.dirname(cub_dir), "segmentations")]
    if manual:
      candidates.append(os.path.join(manual, "segmentations"))
    for candidate in candidates:
      if os.path.isdir(candidate):
        return source_tree.SourceTree(candidate)
    if manual:
      archive = os.path.join(manual, "segmentations.tgz")
      if not os.path.isfile(archive):
        raise FileNotFoundError(
            f"cub/with_masks needs the segmentations: put segmentations.tgz or its "
            f"segmentations/ folder in the manual dir {manual}")
      extracted = self._extract(dl_manager, archive)
    else:
      extracted = self._extract(dl_manager, dl_manager.download(SEGMENTATIONS_URL))
    inner = os.path.join(extracted, "segmentations")
    return source_tree.SourceTree(inner if os.path.isdir(inner) else extracted)

  def _generate_examples(self, tree, masks, records):
    def to_kwargs(r: CubRecord):
      kwargs = dict(image_id=r.image_id, label=r.label, bboxes_xyxy=np.asarray([r.bbox_xyxy]),
                    path=tree.describe(f"images/{r.image_id}"))
      if masks is not None:
        kwargs["mask_path"] = masks.describe(os.path.splitext(r.image_id)[0] + ".png")
      return r.image_id, kwargs

    yield from self.generate(records, to_kwargs)
