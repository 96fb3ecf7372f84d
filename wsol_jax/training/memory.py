"""Memory: what a compiled program will need, what it used, and what the device has.

* :func:`program_memory`: a compiled program's bytes from XLA's memory analysis, known before it
  runs (``jitted.lower(...).compile().memory_analysis()``);
* :func:`peak_memory`: what has been used so far (GPU/TPU ``peak_bytes_in_use``, else the process's
  peak resident memory);
* :func:`memory_limit`: what a program may use (an accelerator's ``bytes_limit``; on a CPU the
  host's available memory plus what this process already holds).

``--mode=dryrun`` checks every program against the limit before running it
(:mod:`wsol_jax.training.dryrun`); ``scripts/benchmark_step.py`` reports :func:`peak_memory`.
"""

from __future__ import annotations

import dataclasses
import os
import resource

import jax

GIB = 2**30


@dataclasses.dataclass(frozen=True)
class ProgramMemory:
  """Bytes of one compiled program on one device (XLA's memory analysis), times ``devices`` where
  several devices share one memory (a CPU's fake devices share the host's RAM)."""
  arguments: int  # the buffers it reads (state, batch), resident while it runs
  outputs: int
  donated: int  # outputs written into donated arguments: counted once, among the arguments
  temporaries: int
  devices: int = 1

  @property
  def peak(self) -> int:
    """Bytes at its peak: arguments + outputs - donated + temporaries (x devices)."""
    return (self.arguments + self.outputs - self.donated + self.temporaries) * self.devices

  def describe(self) -> str:
    """E.g. ``'arguments 1.20 GiB + outputs 1.20 GiB - donated 1.20 GiB + temporaries 3.10 GiB'``."""
    parts = (f"arguments {format_bytes(self.arguments)} + outputs {format_bytes(self.outputs)} - "
             f"donated {format_bytes(self.donated)} + temporaries {format_bytes(self.temporaries)}")
    return f"({parts}) x {self.devices} devices" if self.devices > 1 else parts


def format_bytes(n: int) -> str:
  """``n`` bytes as ``'3.10 GiB'``, or ``'7.5 MiB'`` below 0.1 GiB."""
  return f"{n / GIB:.2f} GiB" if n >= GIB / 10 else f"{n / 2**20:.1f} MiB"


def program_memory(compiled) -> ProgramMemory | None:
  """``compiled`` (``jax.stages.Compiled``) -> its :class:`ProgramMemory`; None where the backend
  reports no analysis."""
  try:
    stats = compiled.memory_analysis()
  except (NotImplementedError, jax.errors.JaxRuntimeError):
    return None
  if stats is None:
    return None
  stats = stats[0] if isinstance(stats, (list, tuple)) else stats
  device = jax.local_devices()[0]
  return ProgramMemory(arguments=int(stats.argument_size_in_bytes),
                       outputs=int(stats.output_size_in_bytes),
                       donated=int(stats.alias_size_in_bytes),
                       temporaries=int(stats.temp_size_in_bytes),
                       devices=jax.local_device_count() if device.platform == "cpu" else 1)


def peak_memory() -> tuple[int, str]:
  """``(bytes, where)``: device 0's ``peak_bytes_in_use`` where the backend reports it
  (``'device'``: GPU/TPU), else this process's peak resident memory so far (``'host RSS'``)."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return int(stats["peak_bytes_in_use"]), "device"
  return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "host RSS"


def memory_limit() -> tuple[int, str] | None:
  """``(bytes, what)`` a program on device 0 may use: its ``bytes_limit`` (GPU/TPU); on a CPU the
  host's ``MemAvailable`` plus this process's resident memory (its state and batches are already
  there, and a program's arguments count them); None where neither is known."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return int(stats["bytes_limit"]), "the device's bytes_limit"
  available = _meminfo_bytes("MemAvailable")
  if available is None:
    return None
  return available + _resident_bytes(), "host MemAvailable + this process's RSS"


def _meminfo_bytes(field: str) -> int | None:
  """A ``/proc/meminfo`` field (kB there) in bytes; None off Linux."""
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        name, _, value = line.partition(":")
        if name == field:
          return int(value.split()[0]) * 1024
  except OSError:
    pass
  return None


def _resident_bytes() -> int:
  """This process's resident memory now (``/proc/self/statm``), 0 where unknown."""
  try:
    with open("/proc/self/statm", encoding="ascii") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError):
    return 0
