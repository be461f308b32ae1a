"""Facts about this machine: free memory, this process's peak memory, GPUs, CPU features.

The ground floor of the package: it imports nothing of ours, so every layer may ask it.
"""

from __future__ import annotations

import functools
import sys


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_memory() -> int:
    """This process's peak resident memory so far, in bytes (0 where unknown).

    On Linux from /proc (VmHWM): getrusage's ru_maxrss survives exec, so a process started by a
    large one (a notebook kernel, a test runner) would report its parent's size at the fork.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU (whose memory is TensorFlow's to manage, not ours)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (`cpuinfo`: its text; default: read it; an
    empty set where it can't be read, e.g. not Linux).

    Example:
        >>> sorted(cpu_flags("flags : fpu sse2 avx512f"))
        ['avx512f', 'fpu', 'sse2']
    """
    cpuinfo = _read_cpuinfo() if cpuinfo is None else cpuinfo
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    return set(flags.partition(":")[2].split())


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU does bfloat16 arithmetic natively (the avx512_bf16 or amx_bf16 flag);
    False where the flags can't be read, to stay safe with float32.

    Example:
        >>> cpu_has_bf16("flags : fpu sse2 avx512f avx512_bf16")
        True
    """
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def cpu_has_avx512(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has AVX-512 (the avx512f flag), which changes TensorFlow's CPU kernels
    and the memory they take (`runs.memory`)."""
    return "avx512f" in cpu_flags(cpuinfo)


@functools.cache
def _read_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return info.read()
    except OSError:
        return ""
