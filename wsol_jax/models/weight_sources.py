"""Where pretrained weight files come from: a path, or a name fetched into a local cache.

Names (``model.pretrained``):

* ``torchvision:vgg16 | inception_v3 | resnet50 | densenet161`` -- the official torchvision
  ImageNet-1k files. The 8 hex digits in their file names are the start of the file's SHA256
  (torch.hub checks the same prefix); a download that does not match is deleted.
* ``keras:mobilenet_v1_{050,075,100}`` -- Keras applications' MobileNet (224 px) HDF5 files.
* ``timm:<hub id>`` (e.g. ``timm:resnet50.a1_in1k``) -- ``model.safetensors`` of a timm model on the
  Hugging Face hub.

Files without a published checksum get their SHA256 written next to them on download
(``<file>.sha256``) and checked on every later use, so a corrupted cache is noticed. The cache is
``$WSOL_JAX_CACHE`` or ``~/.cache/wsol_jax``; ``WSOL_JAX_OFFLINE=1`` never touches the network.
Offline, a missing file is a one-line error naming the URL and the path to place it at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request

import tqdm

_TORCHVISION = "https://download.pytorch.org/models/"
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_HF = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"


@dataclasses.dataclass(frozen=True)
class WeightFile:
  """A named weight file: where it is published and how to check it."""

  name: str
  url: str
  filename: str
  sha256_prefix: str | None  # None: not published; recorded on first download


def _torchvision(arch: str, filename: str) -> WeightFile:
  return WeightFile(f"torchvision:{arch}", _TORCHVISION + filename, filename,
                    filename.rsplit("-", 1)[1].split(".")[0])


def _keras(tag: str, alpha: str) -> WeightFile:
  filename = f"mobilenet_{alpha}_224_tf.h5"
  return WeightFile(f"keras:mobilenet_v1_{tag}", _KERAS + filename, filename, None)


CATALOG: dict[str, WeightFile] = {w.name: w for w in (
    _torchvision("vgg16", "vgg16-397923af.pth"),
    _torchvision("inception_v3", "inception_v3_google-0cc3c7bd.pth"),
    _torchvision("resnet50", "resnet50-0676ba61.pth"),
    _torchvision("densenet161", "densenet161-8d451a50.pth"),
    _keras("050", "5_0"),
    _keras("075", "7_5"),
    _keras("100", "1_0"),
)}


def cache_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get("WSOL_JAX_CACHE", "~/.cache/wsol_jax")).expanduser()


def lookup(name: str) -> WeightFile:
  """A catalog name or ``timm:<hub id>`` -> its :class:`WeightFile`; unknown names raise."""
  if name in CATALOG:
    return CATALOG[name]
  if name.startswith("timm:") and len(name) > 5:
    hub_id = name[5:]
    return WeightFile(name, _HF.format(name=hub_id), f"timm-{hub_id}.safetensors", None)
  raise ValueError(f"unknown pretrained weights {name!r}: give a file path, 'timm:<hub id>' or one "
                   f"of {', '.join(sorted(CATALOG))}")


def is_name(source: str) -> bool:
  return ":" in source and not os.path.exists(source) and source.split(":", 1)[0] in (
      "torchvision", "keras", "timm")


def sha256_of(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _check(weights: WeightFile, path: pathlib.Path) -> None:
  """Raise if ``path`` does not match the published prefix or the SHA256 recorded at download."""
  recorded = path.with_name(path.name + ".sha256")
  expected = weights.sha256_prefix
  if expected is None and recorded.exists():
    expected = recorded.read_text().strip()
  if expected is None:
    return
  actual = sha256_of(path)
  if not actual.startswith(expected):
    raise ValueError(f"{path} has SHA256 {actual[:16]}..., expected {expected[:16]}...: the file "
                     f"is corrupt or not {weights.name}; delete it to download it again")


def _download(weights: WeightFile, dest: pathlib.Path) -> None:
  """Fetch ``weights.url`` into ``dest`` atomically (a temp file renamed after the checksum)."""
  dest.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part", delete=False) as tmp:
    tmp_path = pathlib.Path(tmp.name)
    try:
      with urllib.request.urlopen(weights.url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm.tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
          for chunk in iter(lambda: response.read(1 << 20), b""):
            tmp.write(chunk)
            bar.update(len(chunk))
    except BaseException:
      tmp.close()
      tmp_path.unlink(missing_ok=True)
      raise
  digest = sha256_of(tmp_path)
  if weights.sha256_prefix and not digest.startswith(weights.sha256_prefix):
    tmp_path.unlink(missing_ok=True)
    raise ValueError(f"download of {weights.url} has SHA256 {digest[:16]}..., expected "
                     f"{weights.sha256_prefix}...; not saved")
  shutil.move(tmp_path, dest)
  if weights.sha256_prefix is None:
    dest.with_name(dest.name + ".sha256").write_text(digest + "\n")


def fetch(name: str, directory: str | os.PathLike | None = None) -> pathlib.Path:
  """The local path of the named weights, downloading them into the cache when absent."""
  weights = lookup(name)
  dest = pathlib.Path(directory).expanduser() if directory else cache_dir()
  dest = dest / weights.filename
  if not dest.exists():
    if os.environ.get("WSOL_JAX_OFFLINE", "") not in ("", "0"):
      reason = "WSOL_JAX_OFFLINE is set"
    else:
      try:
        _download(weights, dest)
        reason = None
      except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = f"download failed: {getattr(e, 'reason', e)}"
    if reason is not None:
      raise FileNotFoundError(f"pretrained weights {name!r} are not cached ({reason}): download "
                              f"{weights.url} and place it at {dest} (or set model.pretrained to "
                              f"the file's path)")
  _check(weights, dest)
  return dest


def resolve(source: str, directory: str | os.PathLike | None = None) -> pathlib.Path:
  """``model.pretrained`` (a path or a name) -> an existing local file, or a one-line error."""
  if is_name(source):
    return fetch(source, directory)
  path = pathlib.Path(source).expanduser()
  if not path.is_file():
    raise FileNotFoundError(f"pretrained weights file {path} does not exist (model.pretrained "
                            f"takes a path or a name such as {', '.join(sorted(CATALOG))})")
  return path
