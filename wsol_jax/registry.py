"""Names -> classes of one kind (methods, backbones, datasets): one registry style for all three.

A class registers itself with ``@REGISTRY.register("name")``. A registry may know, for names not
yet registered, the module that registers them (``modules``: a mapping, or a function of the
name), so that the module is imported only when its name is first used.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable, Mapping


class Registry:
  """One kind of named class (``kind``, e.g. 'backbone', used in error messages)."""

  def __init__(self, kind: str, modules: Mapping[str, str] | Callable[[str], str] | None = None,
               known: Callable[[], Iterable[str]] | None = None, name_attribute: str = ""):
    self.kind = kind
    self._classes: dict[str, type] = {}
    self._modules = modules
    self._known = known  # names that exist without importing anything (for messages and lists)
    self._name_attribute = name_attribute  # set to the registered name on the class, if given

  def register(self, name: str):
    """Class decorator: make ``name`` buildable with :meth:`get`."""

    def wrap(cls):
      if name in self._classes:
        raise ValueError(f"{self.kind} {name!r} is registered twice")
      if self._name_attribute:
        setattr(cls, self._name_attribute, name)
      self._classes[name] = cls
      return cls

    return wrap

  def _module_of(self, name: str) -> str | None:
    if callable(self._modules):
      return self._modules(name)
    return (self._modules or {}).get(name)

  def get(self, name: str) -> type:
    """The class registered as ``name``, importing the module that registers it if needed; an
    unknown name raises a one-line ValueError listing the known ones."""
    if name not in self._classes:
      module = self._module_of(name)
      if module is not None:
        try:
          importlib.import_module(module)
        except ModuleNotFoundError as e:
          if e.name != module:
            raise
    if name not in self._classes:
      raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
    return self._classes[name]

  def names(self) -> list[str]:
    """Every name: registered ones and those a module would register."""
    names = set(self._classes)
    if isinstance(self._modules, Mapping):
      names |= set(self._modules)
    if self._known is not None:
      names |= set(self._known())
    return sorted(names)
