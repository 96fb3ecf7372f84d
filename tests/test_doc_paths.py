"""The README and docs/*.md name only repository paths that exist, and no stale names.

Code moves leave documentation behind. This test reads README.md and every docs/*.md, collects
each repository path they mention (tokens starting with wsol_jax/, configs/, scripts/, tests/ or
docs/, a ``:variant`` suffix stripped, ``{a,b}`` expanded, ``*`` globbed), each dotted module name
``wsol_jax.x.y`` (its trailing attributes must appear in the module's source), and each relative
markdown link (resolved from the file that holds it), and fails once, listing every one that is
missing. Paths outside the repository (/tmp, ../shared, DIR, runs/...) never start with those
names and are not checked. No network, no jax.
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

PATH_RE = re.compile(r"(?<![\w./~-])(?:wsol_jax|configs|scripts|tests|docs)/[\w./{},*:-]*")
MODULE_RE = re.compile(r"(?<![\w./~-])wsol_jax(?:\.\w+)+")
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")

# Names that moved or were wrong; the docs must not bring them back.
STALE = ["wsol_jax/component_tree.py", "wsol_jax/inference.py", "wsol_jax/methods/cam.py"]


def expand_braces(token):
  m = re.search(r"\{([^{}]*)\}", token)
  if not m:
    return [token]
  return [out for alt in m.group(1).split(",")
          for out in expand_braces(token[:m.start()] + alt + token[m.end():])]


def path_exists(rel):
  if "*" in rel:
    return any(ROOT.glob(rel))
  return (ROOT / rel).exists()


def module_exists(dotted):
  """``wsol_jax.a.b.attr``: packages and a module file, then names found in its source."""
  here, parts = ROOT, dotted.split(".")
  for i, part in enumerate(parts):
    if (here / part).is_dir():
      here = here / part
      continue
    source = here / f"{part}.py"
    attrs = parts[i + 1:]
    if not source.is_file():  # an attribute of the package ``here``
      source, attrs = here / "__init__.py", parts[i:]
      if i == 0 or not source.is_file():
        return False
    text = source.read_text()
    return all(re.search(rf"\b{re.escape(a)}\b", text) for a in attrs)
  return True


def named_paths(doc):
  """(what the doc says, whether it exists) for every path, module and relative link in ``doc``."""
  text = doc.read_text()
  for token in PATH_RE.findall(text):
    token = token.split(":")[0].rstrip(".,;)'\"`")
    for rel in expand_braces(token):
      yield rel, path_exists(rel)
  for name in MODULE_RE.findall(text):
    yield name, module_exists(name)
  for target in LINK_RE.findall(text):
    if not re.match(r"[a-z]+:|#", target):
      target = target.split("#")[0]
      yield f"link {target}", (doc.parent / target).exists()


def test_named_paths_exist():
  missing = sorted({f"{doc.relative_to(ROOT)}: {name}"
                    for doc in DOCS for name, ok in named_paths(doc) if not ok})
  assert not missing, "paths named in the docs that do not exist:\n" + "\n".join(missing)


def test_no_stale_names():
  found = []
  for doc in DOCS:
    for n, line in enumerate(doc.read_text().splitlines(), 1):
      found += [f"{doc.relative_to(ROOT)}:{n}: {s}" for s in STALE if s in line]
      if "cub_slt.py" in line and "sigmoid" in line.lower():  # its regressor is linear in cells
        found.append(f"{doc.relative_to(ROOT)}:{n}: cub_slt.py described with a sigmoid")
  assert not found, "stale names in the docs:\n" + "\n".join(found)
