"""Metrics to stdout, ``<workdir>/metrics.jsonl`` and TensorBoard event files (tensorboardX).

Only process 0 writes (:class:`MetricWriter` is a no-op elsewhere). ``clu.metric_writers`` would
import TensorFlow, which this project never needs.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from typing import Any, Mapping, Sequence

import numpy as np
import tqdm


def format_scalars(scalars: Mapping[str, float]) -> str:
  return ", ".join(f"{k}={_fmt(v)}" for k, v in scalars.items())


def _fmt(v) -> str:
  if isinstance(v, (int, np.integer)):
    return str(int(v))
  v = float(v)
  if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
    return f"{v:.3e}"
  return f"{v:.4f}"


def _tensorboard_name(key: str) -> str:
  """TensorBoard tags allow [A-Za-z0-9_./-]: 'MaxBoxAcc@50' -> 'MaxBoxAcc_50'."""
  return re.sub(r"[^A-Za-z0-9_./-]", "_", key)


class MetricWriter:
  """Scalars (and images) by step to stdout, JSONL and TensorBoard.

  workdir: where ``metrics.jsonl`` and ``tensorboard/`` go. enabled: False on processes other
  than 0 (everything becomes a no-op). quiet: no stdout (tests).
  """

  def __init__(self, workdir: str, *, enabled: bool = True, tensorboard: bool = True,
               quiet: bool = False):
    self.enabled = enabled
    self.quiet = quiet
    self._jsonl = None
    self._tb = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
    if tensorboard:
      import tensorboardX  # pylint: disable=import-outside-toplevel
      self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write_scalars(self, step: int, scalars: Mapping[str, Any],
                    stdout_keys: Sequence[str] | None = None) -> None:
    """Every scalar to JSONL and TensorBoard; to stdout all of them or only ``stdout_keys``."""
    if not self.enabled or not scalars:
      return
    clean = {k: (float(v) if not isinstance(v, (int, np.integer)) else int(v))
             for k, v in scalars.items()}
    record = {"step": int(step), "time": round(time.time(), 3)}
    record.update({k: (v if not (isinstance(v, float) and not math.isfinite(v)) else str(v))
                   for k, v in clean.items()})
    self._jsonl.write(json.dumps(record) + "\n")
    self._jsonl.flush()
    if self._tb is not None:
      for k, v in clean.items():
        self._tb.add_scalar(_tensorboard_name(k), v, global_step=int(step))
    if not self.quiet:
      shown = clean if stdout_keys is None else {k: clean[k] for k in stdout_keys if k in clean}
      tqdm.tqdm.write(f"[step {int(step)}] {format_scalars(shown)}")

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """uint8 [H, W, 3] images to TensorBoard (figures are also written as PNG by their makers)."""
    if not self.enabled or self._tb is None:
      return
    for k, img in images.items():
      self._tb.add_image(k, np.asarray(img), global_step=int(step), dataformats="HWC")

  def write_text(self, text: str) -> None:
    """A line to stdout (process 0 only), not breaking a progress bar."""
    if self.enabled and not self.quiet:
      tqdm.tqdm.write(text)

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._jsonl is not None:
      self._jsonl.close()
      self._jsonl = None
    if self._tb is not None:
      self._tb.close()
      self._tb = None
