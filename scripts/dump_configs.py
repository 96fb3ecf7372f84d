"""Every shipped config, flattened: one JSON object ``{"<file>[:<variant>]": {"a.b.c": value}}``.

  python scripts/dump_configs.py [--root REPO] [--out FILE.json] [--diff OLD.json]

Each ``configs/*.py`` (except ``common.py`` and ``__init__.py``) is loaded as ``--config=`` loads
it; a file with variants (its ``VARIANTS`` tuple) gives one entry per variant. ``--diff`` prints, for
the entries of both dumps, the keys whose values differ, and the entries only one of them has:
how a change to the configs shows that only the keys it meant to change did.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys


def load(path: pathlib.Path, variant: str | None):
  """``get_config([variant])`` of the file at ``path``, loaded the way config_flags loads it."""
  spec = importlib.util.spec_from_file_location(f"dumped_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module, (module.get_config(variant) if variant else module.get_config())


def flatten(tree, prefix: str = "") -> dict:
  """Nested dicts -> ``{"a.b": leaf}``; tuples become lists (JSON)."""
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      out.update(flatten(value, name + "."))
    else:
      out[name] = list(value) if isinstance(value, tuple) else value
  return out


def dump(root: pathlib.Path) -> dict:
  sys.path.insert(0, str(root))
  configs = {}
  for path in sorted((root / "configs").glob("*.py")):
    if path.stem in ("common", "__init__"):
      continue
    module, config = load(path, None)
    configs[path.name] = flatten(config.to_dict())
    for variant in getattr(module, "VARIANTS", ()):
      configs[f"{path.name}:{variant}"] = flatten(load(path, variant)[1].to_dict())
  return configs


def diff(old: dict, new: dict) -> list[str]:
  lines = [f"only in old: {name}" for name in sorted(set(old) - set(new))]
  lines += [f"only in new: {name}" for name in sorted(set(new) - set(old))]
  for name in sorted(set(old) & set(new)):
    a, b = old[name], new[name]
    for key in sorted(set(a) | set(b)):
      if a.get(key, "<absent>") != b.get(key, "<absent>"):
        lines.append(f"{name}: {key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
  return lines


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parents[1]))
  parser.add_argument("--out", default="")
  parser.add_argument("--diff", default="", help="an earlier --out file to compare with")
  args = parser.parse_args()
  configs = dump(pathlib.Path(args.root).resolve())
  text = json.dumps(configs, indent=1, sort_keys=True, default=str)
  if args.out:
    pathlib.Path(args.out).write_text(text + "\n", encoding="utf-8")
  if args.diff:
    old = json.loads(pathlib.Path(args.diff).read_text(encoding="utf-8"))
    lines = diff(old, json.loads(text))
    print("\n".join(lines) if lines else "no differences")
  elif not args.out:
    print(text)


if __name__ == "__main__":
  main()
