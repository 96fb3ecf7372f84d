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


# ----------------------------------------------------------------------------------------------
# One shape for every method; configs that import; orbax behind one module.

METHODS_DIR = PACKAGE / "methods"
METHOD_MODULES = {"__init__", "config", "method", "losses", "figures"}


def method_packages() -> list[pathlib.Path]:
  return sorted(p for p in METHODS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


def method_names() -> set[str]:
  return {p.name for p in method_packages()}


def test_every_method_is_a_package_of_the_same_shape():
  packages = method_packages()
  assert {p.name for p in packages} >= {"cam", "slt", "lchp", "has", "acol", "spg", "adl",
                                        "cutmix"}
  assert not [p.name for p in METHODS_DIR.glob("*.py") if p.stem not in ("__init__", "common")], (
      "a method outside a package")
  for package in packages:
    missing = METHOD_MODULES - {p.stem for p in package.glob("*.py")}
    assert not missing, f"methods/{package.name} lacks {sorted(missing)}"


def test_no_method_imports_another():
  graph = import_graph()
  names = {f"wsol_jax.methods.{p.name}" for p in method_packages()}
  bad = sorted(f"{mod} imports {dep}" for mod, deps in graph.items() for dep in deps
               for own in names if mod == own or mod.startswith(own + ".")
               for other in names - {own} if dep == other or dep.startswith(other + "."))
  assert not bad, "; ".join(bad)


REPO = PACKAGE.parent


def test_configs_is_a_package_whose_files_import_each_other():
  """configs/ imports as a package, every file's get_config() runs from the import, and no file
  loads another by path."""
  import importlib  # pylint: disable=import-outside-toplevel
  assert (REPO / "configs" / "__init__.py").is_file()
  for path in sorted((REPO / "configs").glob("*.py")):
    text = path.read_text(encoding="utf-8")
    for marker in ("load_config_module", "load_config_file", "spec_from_file_location"):
      assert marker not in text, f"configs/{path.name} loads a config by path ({marker})"
    module = importlib.import_module(f"configs.{path.stem}" if path.stem != "__init__" else "configs")
    if hasattr(module, "get_config"):
      for variant in getattr(module, "VARIANTS", ()) or (None,):
        config = module.get_config(variant) if variant else module.get_config()
        assert config.method in method_names(), f"configs/{path.name}:{variant}"


def test_only_training_checkpoints_imports_orbax():
  """Nothing but training/checkpoints.py imports orbax or reaches it through that module's
  ``ocp`` (e.g. ``ckpt_lib.ocp.args``)."""
  users = []
  for path in sorted(PACKAGE.rglob("*.py")):
    if module_name(path) != "wsol_jax.training.checkpoints" and ".ocp." in path.read_text(
        encoding="utf-8"):
      users.append(module_name(path))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      names = ([a.name for a in node.names] if isinstance(node, ast.Import)
               else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
      if any(n == "orbax" or n.startswith("orbax.") for n in names):
        users.append(module_name(path))
  assert set(users) == {"wsol_jax.training.checkpoints"}, users
