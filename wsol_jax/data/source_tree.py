"""Read a dataset's source files by relative path, from a folder or straight out of a .zip.

Builders find the dataset root (the folder that holds e.g. ``wnids.txt``) in a manual dir, an
extracted download or a zip archive, then read ``tree.read_bytes("train/x.JPEG")`` without caring
which. Zip members are read in place (no extraction); zipfile reads are thread-safe.
"""

from __future__ import annotations

import copy
import os
import pathlib
import shutil
import tarfile
import tempfile
import zipfile

from wsol_jax.data import decode


class SourceTree:
  """Files under ``root`` of a folder, or under the member prefix ``root`` of a zip."""

  def __init__(self, location: str | os.PathLike, root: str = ""):
    self.location = os.fspath(location)
    self.root = root.strip("/")
    self._zip = None
    self._names: set[str] | None = None
    if zipfile.is_zipfile(self.location):
      self._zip = zipfile.ZipFile(self.location)
      self._names = set(self._zip.namelist())

  def _join(self, rel: str) -> str:
    return f"{self.root}/{rel}" if self.root else rel

  def describe(self, rel: str) -> str:
    """How to name the file ``rel`` in messages."""
    if self._zip is not None:
      return f"{self.location}:{self._join(rel)}"
    return os.path.join(self.location, self._join(rel))

  def exists(self, rel: str) -> bool:
    if self._zip is not None:
      return self._join(rel) in self._names
    return os.path.exists(self.describe(rel))

  def read_bytes(self, rel: str) -> bytes:
    """The file's bytes; BadExampleError (a ValueError) naming it when it is missing."""
    if not self.exists(rel):
      raise decode.BadExampleError(f"file not found: {self.describe(rel)}")
    if self._zip is not None:
      return self._zip.read(self._join(rel))
    return pathlib.Path(self.describe(rel)).read_bytes()

  def read_lines(self, rel: str) -> list[str]:
    """Non-empty, stripped lines of a text file; FileNotFoundError naming it when missing."""
    if not self.exists(rel):
      raise FileNotFoundError(f"missing annotation file: {self.describe(rel)}")
    text = self.read_bytes(rel).decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()]

  def subdirs(self, rel: str = "") -> set[str]:
    """Names of the folders directly under ``rel``."""
    if self._zip is None:
      path = self.describe(rel)
      return {d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))}
    prefix = self._join(rel).rstrip("/") + "/" if self._join(rel) else ""
    out = set()
    for name in self._names:
      if name.startswith(prefix):
        rest = name[len(prefix):].split("/")
        if len(rest) > 1 and rest[0]:
          out.add(rest[0])
    return out

  def sub(self, rel: str) -> SourceTree:
    """The tree rooted at ``rel`` (sharing an open zip)."""
    tree = copy.copy(self)
    tree.root = self._join(rel).strip("/") if rel else self.root
    return tree

  def find_root(self, marker: str, max_depth: int = 2) -> SourceTree | None:
    """The sub-tree (searched to ``max_depth`` levels) whose root holds the file ``marker``."""
    frontier = [""]
    for _ in range(max_depth + 1):
      next_frontier = []
      for rel in frontier:
        sub = self.sub(rel)
        if sub.exists(marker):
          return sub
        try:
          next_frontier += [f"{rel}/{d}".strip("/") for d in sorted(self.subdirs(rel))]
        except OSError:
          pass
      frontier = next_frontier
    return None


def extract_tar(archive: str | os.PathLike, dest_root: str | os.PathLike) -> str:
  """Extract a .tar / .tgz once into ``dest_root/<archive name>``; returns that folder.

  (TFDS's own extractor needs TensorFlow.) Extraction goes to a temporary folder that is renamed
  when complete, so an interrupted run never leaves a half-extracted tree that looks finished.
  """
  archive = os.fspath(archive)
  dest = os.path.join(os.fspath(dest_root), os.path.basename(archive) + ".extracted")
  if os.path.isdir(dest):
    return dest
  os.makedirs(dest_root, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=dest_root, prefix=".extracting-")
  try:
    with tarfile.open(archive) as tar:
      if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse unsafe members.
        tar.extractall(tmp, filter="data")
      else:
        tar.extractall(tmp)
    os.replace(tmp, dest)
  except (tarfile.TarError, OSError, EOFError) as e:
    shutil.rmtree(tmp, ignore_errors=True)
    raise FileNotFoundError(f"cannot extract {archive}: {type(e).__name__}: {e}") from None
  return dest


def parse_fields(line: str, count: int, *, where: str, sep: str | None = None) -> list[str]:
  """Split an annotation line into exactly ``count`` fields or raise naming ``where``."""
  fields = line.split(sep)
  if len(fields) != count:
    raise ValueError(f"{where}: expected {count} fields, got {len(fields)}: {line!r}")
  return fields
