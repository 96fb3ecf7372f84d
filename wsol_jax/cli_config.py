"""What ``--config`` means on the command line (:mod:`wsol_jax.main`).

``--config=`` takes a config file (``configs/NAME.py[:variant]``, read by ml_collections), a run's
saved ``config.json`` or an exported ``.wsol`` file (the config the run was trained with:
:func:`wsol_jax.config_defaults.load_saved_config`). Without ``--config`` the ``--workdir``'s own
``config.json`` is used (an exported file's when ``--workdir`` names one), so a trained workdir is
enough to resume, evaluate, visualize, predict or export; ``--config.a.b=v`` overrides apply on top
either way, and the loop's fingerprint check refuses one that changes what the run trained.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from absl import flags
from ml_collections import config_flags

from wsol_jax import config_defaults


class MissingConfigError(ValueError):
  """No ``--config`` and a ``--workdir`` without a saved config (one line)."""


class SavedOrConfigFileParser(flags.ArgumentParser):
  """``--config``'s parser: :func:`config_defaults.load_saved_config` for a saved ``config.json``
  or ``.wsol``, else ml_collections' own (``file_parser``); the config comes back locked."""

  def __init__(self, file_parser: flags.ArgumentParser):
    self.file_parser = file_parser

  def parse(self, argument):
    if not str(argument).endswith(config_defaults.SAVED_CONFIG_SUFFIXES):
      return self.file_parser.parse(argument)
    config = config_defaults.load_saved_config(argument)
    config.lock()
    return config

  def flag_type(self) -> str:
    return self.file_parser.flag_type()


def define_config_flag(name: str, help_string: str):
  """``config_flags.DEFINE_config_file(name, lock_config=True)`` that also reads saved configs."""
  holder = config_flags.DEFINE_config_file(name, None, help_string, lock_config=True)
  flag = flags.FLAGS[name]
  flag.parser = SavedOrConfigFileParser(flag.parser)
  return holder


def flag_value(argv: Sequence[str], name: str) -> str | None:
  """The last value of ``--name=V`` / ``--name V`` in ``argv`` (None when absent)."""
  value = None
  for i, arg in enumerate(argv):
    match = re.fullmatch(rf"--?{name}(=(.*))?", arg)
    if match:
      value = match.group(2) if match.group(1) else (argv[i + 1] if i + 1 < len(argv) else None)
  return value


def saved_config_path(workdir: str) -> str:
  """Where a run's saved config is: ``WORKDIR/config.json``, or an exported file itself."""
  if os.path.isfile(workdir):
    return workdir
  return os.path.join(workdir, config_defaults.SAVED_CONFIG_FILE)


def with_saved_config(argv: Sequence[str]) -> list[str]:
  """``argv``, with ``--config=`` of the ``--workdir``'s saved config added when it gives none;
  :class:`MissingConfigError` when the workdir has none (a new run, or not a workdir)."""
  argv = list(argv)
  workdir = flag_value(argv, "workdir")
  if flag_value(argv, "config") is not None or not workdir:
    return argv  # absl reports a flag still missing
  saved = saved_config_path(workdir)
  if os.path.isfile(saved):
    return argv[:1] + [f"--config={saved}"] + argv[1:]
  if (flag_value(argv, "mode") or "train") in ("train", "dryrun"):
    raise MissingConfigError(
        f"{saved} not found: a new run needs --config=configs/NAME.py (see configs/); a run "
        "resumes from its workdir's config.json")
  raise MissingConfigError(
      f"{saved} not found: pass --config=FILE (the config --workdir={workdir} was trained with), "
      "or give --workdir a trained run's directory")
