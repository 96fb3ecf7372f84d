"""Small file and text helpers every part of the project uses: an atomic write (a crash or an
interrupt leaves the old file or the new one, never half of one) and the plain-text table format."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any, Callable, Sequence


def atomic_write(path, write: Callable[[Any], None], mode: str = "w") -> pathlib.Path:
  """Calls ``write(f)`` on a temporary file beside ``path`` (parents created), then renames it onto
  ``path``; on any error the temporary file is removed and ``path`` is untouched. ``mode``: 'w'
  (text, UTF-8) or 'wb'. The file gets the umask's permissions (not mkstemp's 0600)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
      write(f)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
  return path


def atomic_write_text(path, text: str) -> pathlib.Path:
  """``text`` to ``path`` atomically (:func:`atomic_write`)."""
  return atomic_write(path, lambda f: f.write(text))


def atomic_write_json(path, value, *, indent: int | None = 2, sort_keys: bool = False,
                      **json_kwargs) -> pathlib.Path:
  """``value`` as JSON (one trailing newline) to ``path`` atomically (:func:`atomic_write`)."""
  return atomic_write_text(path, json.dumps(value, indent=indent, sort_keys=sort_keys,
                                            **json_kwargs) + "\n")


def format_table(header: Sequence, rows: Sequence[Sequence], *,
                 first_column_left: bool = True) -> str:
  """Rows of cells as a plain-text pipe table: a header line, a ``-+-`` rule, one line per row.
  Cells are ``str()``-ed; the first column is left-aligned (``first_column_left``), the others
  right-aligned."""
  rows = [[str(c) for c in r] for r in rows]
  header = [str(c) for c in header]
  widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

  def line(cells):
    return " | ".join(c.ljust(w) if i == 0 and first_column_left else c.rjust(w)
                      for i, (c, w) in enumerate(zip(cells, widths)))

  return "\n".join([line(header), "-+-".join("-" * w for w in widths)] + [line(r) for r in rows])
