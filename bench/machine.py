"""What ran a benchmark: date, CPU model, cores, memory, Python, load (for the recorded results)."""

import os
import platform
import time
from pathlib import Path


def describe():
    """A dict: ``date``, ``cpu`` (model name), ``cores``, ``memory_gib``, ``python``,
    ``load_average_1min`` (other work on the machine slows a benchmark: record it)."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
    }
