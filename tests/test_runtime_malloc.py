"""wsol_jax.runtime.restart_with_huge_page_malloc: when it restarts the process with glibc's huge-page
tunable, and that the restarted process runs the same command once, with the tunable set."""

import os
import subprocess
import sys

import pytest

from wsol_jax import runtime

_NEW = (2, 39)


def test_madvise_mode_and_a_new_glibc_add_the_tunable():
  env = runtime.huge_page_environment({"PATH": "/bin"}, "madvise", _NEW)
  assert env == {"PATH": "/bin", "GLIBC_TUNABLES": runtime.HUGE_PAGE_TUNABLE}


def test_the_users_other_tunables_are_kept():
  env = runtime.huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "madvise", _NEW)
  assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + runtime.HUGE_PAGE_TUNABLE


@pytest.mark.parametrize("environ, thp_mode, glibc", [
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "madvise", _NEW),  # the user's choice
    ({runtime.KEEP_MALLOC_ENV: "1"}, "madvise", _NEW),  # opted out
    ({}, "always", _NEW),  # huge pages without asking
    ({}, "never", _NEW),  # none to have
    ({}, "", _NEW),  # no transparent huge pages in this kernel
    ({}, "madvise", (2, 34)),  # glibc without the tunable
    ({}, "madvise", (0,)),  # not glibc (musl)
])
def test_no_restart_where_it_would_change_nothing_or_is_not_wanted(environ, thp_mode, glibc):
  assert runtime.huge_page_environment(environ, thp_mode, glibc) is None


# Announces itself on stderr, restarts (as if the kernel and glibc qualified), then reports.
_DRIVER = """
import os, sys
from wsol_jax import runtime
print("started", file=sys.stderr, flush=True)
runtime._thp_mode = lambda: "madvise"
runtime._glibc_version = lambda: (2, 39)
runtime.restart_with_huge_page_malloc()
print(os.environ.get("GLIBC_TUNABLES", ""), sys.argv[1:])
"""


def _run_driver(**extra_env) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items()
         if k not in ("GLIBC_TUNABLES", runtime.KEEP_MALLOC_ENV)}
  env.update(extra_env)
  return subprocess.run([sys.executable, "-c", _DRIVER, "a b", "--x=1"], env=env, check=True,
                        capture_output=True, text=True)


@pytest.mark.skipif(sys.platform != "linux", reason="the restart is Linux only")
def test_the_command_restarts_once_with_its_arguments_and_the_tunable():
  done = _run_driver()
  assert done.stderr.count("started") == 2
  assert done.stdout.strip() == f"{runtime.HUGE_PAGE_TUNABLE} ['a b', '--x=1']"


@pytest.mark.skipif(sys.platform != "linux", reason="the restart is Linux only")
def test_opting_out_runs_the_command_once_unchanged():
  done = _run_driver(**{runtime.KEEP_MALLOC_ENV: "1"})
  assert done.stderr.count("started") == 1
  assert done.stdout.strip() == "['a b', '--x=1']"


def test_a_failed_exec_goes_on_unchanged(monkeypatch, caplog):
  def refuse(*args):
    raise PermissionError("exec not allowed here")
  monkeypatch.setattr(runtime, "_thp_mode", lambda: "madvise")
  monkeypatch.setattr(runtime, "_glibc_version", lambda: _NEW)
  monkeypatch.setattr(runtime.sys, "platform", "linux")
  monkeypatch.setattr(runtime.os, "execve", refuse)
  monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
  monkeypatch.delenv(runtime.KEEP_MALLOC_ENV, raising=False)
  runtime.restart_with_huge_page_malloc()
  assert "exec not allowed here" in caplog.text
  assert "GLIBC_TUNABLES" not in os.environ
