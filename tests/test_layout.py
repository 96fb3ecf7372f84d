"""The package's import graph, read from the source (imports inside functions count too):
no cycle; ``localization/`` imports no training and no method; ``training/`` imports no method."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "wsol_jax"


def module_name(path: pathlib.Path, package: pathlib.Path = PACKAGE) -> str:
  parts = list(path.relative_to(package.parent).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def imported_modules(path: pathlib.Path, modules: set[str], package_dir: pathlib.Path = PACKAGE
                     ) -> set[str]:
  """The ``wsol_jax`` modules ``path`` imports anywhere in its body (``from pkg import mod`` counts
  as importing ``pkg.mod`` when that is a module, else ``pkg``)."""
  tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
  this = module_name(path, package_dir)
  package = this if path.name == "__init__.py" else this.rpartition(".")[0]
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    else:
      continue
    for name in names:
      while name and name not in modules:  # 'wsol_jax.a.b.attr' -> the module that holds it
        name = name.rpartition(".")[0]
      if name and name != this:
        found.add(name)
  return found


def import_graph(package_dir: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
  paths = sorted(package_dir.rglob("*.py"))
  modules = {module_name(p, package_dir) for p in paths}
  return {module_name(p, package_dir): imported_modules(p, modules, package_dir) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One import cycle as a list of modules (first == last), or None."""
  state: dict[str, int] = {}  # 1: on the current path, 2: done
  path: list[str] = []

  def visit(node):
    state[node] = 1
    path.append(node)
    for nxt in sorted(graph.get(node, ())):
      # A package's __init__ importing its own submodule is how packages work, not a cycle.
      if node.startswith(nxt + "."):
        continue
      if state.get(nxt) == 1:
        return path[path.index(nxt):] + [nxt]
      if nxt not in state:
        cycle = visit(nxt)
        if cycle:
          return cycle
    path.pop()
    state[node] = 2
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


def test_the_graph_sees_imports_inside_functions(tmp_path):
  pkg = tmp_path / "wsol_jax"
  (pkg / "a").mkdir(parents=True)
  (pkg / "__init__.py").write_text("")
  (pkg / "a" / "__init__.py").write_text("")
  (pkg / "a" / "x.py").write_text("def f():\n  from wsol_jax.a import y\n  return y\n")
  (pkg / "a" / "y.py").write_text("from wsol_jax.a.x import f\n")
  graph = import_graph(pkg)
  assert graph["wsol_jax.a.x"] == {"wsol_jax.a.y"}
  assert find_cycle(graph) in (["wsol_jax.a.x", "wsol_jax.a.y", "wsol_jax.a.x"],
                               ["wsol_jax.a.y", "wsol_jax.a.x", "wsol_jax.a.y"])


def test_no_import_cycle():
  cycle = find_cycle(import_graph())
  assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("layer, forbidden", [
    ("wsol_jax.localization", ("wsol_jax.training", "wsol_jax.methods")),
    ("wsol_jax.training", ("wsol_jax.methods",)),
])
def test_layers_import_only_downwards(layer, forbidden):
  bad = sorted(f"{mod} imports {dep}" for mod, deps in import_graph().items()
               if mod == layer or mod.startswith(layer + ".")
               for dep in deps if any(dep == f or dep.startswith(f + ".") for f in forbidden))
  assert not bad, "; ".join(bad)
