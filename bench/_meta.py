"""Where, on what and how a benchmark result was measured; every bench script writes through it.

A result file in ``bench/results`` holds the benchmark's numbers and a ``meta`` object:

``commit``        ``git rev-parse HEAD`` of the checkout that ran, ``dirty`` whether it had
                  uncommitted changes (``dirty_paths``: which; result files do not count)
``command``       the exact command line (interpreter, script, arguments) and the thread
                  environment variables it ran with
``machine``       CPU model, cores, the cores this process may use, torch threads (``null``
                  when the benchmark does not load torch), Python, torch and the platform;
                  ``cpu_features``: the matrix instruction sets the CPU has (``avx2``,
                  ``avx512f``, ``avx512_vnni``, ``avx512_bf16``, ``amx_bf16``...), which
                  decide what bf16 and int8 gain and which one model name can hide
                  ("AMD EPYC" is a Zen 3 with AVX2 only or a Zen 4 with bf16)
``load_average``  1/5/15-minute load average before and after the measurement
``started``       UTC start time; ``seconds`` the wall time from start to write

A file measured before this existed says so instead: ``{"stale": true, "reason": ...}``.
``problems`` lists what a ``meta`` object lacks (tests/unit/test_bench_results.py runs it on
every result file). No kgbuild import: the benchmarks of the library use it too.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["REPO", "RESULTS", "Run", "problems", "start", "write_result"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
GENERATED = ("bench/results/", "docs/benchmarks.md")
"""Paths a benchmark run itself rewrites: they do not make the tree dirty."""
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TOKENIZERS_PARALLELISM",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
)


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def git_state() -> dict[str, Any]:
    """The checkout's commit and its uncommitted paths (result files left out)."""
    commit = _git("rev-parse", "HEAD").strip()
    changed = [line[3:] for line in _git("status", "--porcelain").splitlines() if line.strip()]
    dirty = sorted(path for path in changed if not path.startswith(GENERATED))
    return {"commit": commit, "dirty": bool(dirty), "dirty_paths": dirty[:50]}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


MATRIX_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
"""CPU flags (``/proc/cpuinfo``) that change what a precision gains, in the order reported."""


def cpu_features() -> list[str]:
    """The :data:`MATRIX_FEATURES` the CPU has (empty when ``/proc/cpuinfo`` is unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("flags"):
                flags = set(line.partition(":")[2].split())
                return [name for name in MATRIX_FEATURES if name in flags]
    except OSError:
        pass
    return []


def machine() -> dict[str, Any]:
    """CPU, cores, torch threads (``None`` when torch is not loaded), software versions."""
    torch = sys.modules.get("torch")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "cpu_features": cpu_features(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "torch": getattr(torch, "__version__", None),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def command() -> str:
    """The command line as it was typed, interpreter path relative to the repository."""
    interpreter = Path(sys.executable)
    if interpreter.is_relative_to(REPO):
        interpreter = interpreter.relative_to(REPO)
    script = Path(sys.argv[0]).resolve()
    shown = str(script.relative_to(REPO)) if script.is_relative_to(REPO) else sys.argv[0]
    return shlex.join([str(interpreter), shown, *sys.argv[1:]])


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


class Run:
    """One measurement: created when it starts, asked for its ``meta`` when it ends."""

    def __init__(self) -> None:
        self.load_before = _load()
        self.started = datetime.now(UTC)
        self._clock = time.perf_counter()

    def meta(self) -> dict[str, Any]:
        """The ``meta`` object of this run, as of now (the load average after, the duration)."""
        return {
            **git_state(),
            "command": command(),
            "environment": {name: os.environ.get(name) for name in THREAD_VARIABLES},
            "machine": machine(),
            "load_average": {"before": self.load_before, "after": _load()},
            "started": self.started.isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - self._clock, 1),
        }


def start() -> Run:
    """Start a measurement (call before the timed work, after any long setup you exclude)."""
    return Run()


def write_result(path: Path, result: dict[str, Any], run: Run) -> Path:
    """Write ``result`` with ``run``'s ``meta`` as indented JSON; return the path."""
    if "meta" in result:
        raise ValueError("a result's 'meta' is written by bench/_meta.py, not by the benchmark")
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**result, "meta": run.meta()}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


def _numbers(value: Any, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(x, int | float) for x in value)
    )


def problems(result: Any) -> list[str]:
    """What a result file's ``meta`` lacks (empty when complete, or stale with a reason)."""
    meta = result.get("meta") if isinstance(result, dict) else None
    if not isinstance(meta, dict):
        return ["no 'meta' object"]
    if meta.get("stale") is True:
        reason = meta.get("reason")
        return [] if isinstance(reason, str) and reason.strip() else ["stale without a reason"]
    found: list[str] = []
    commit = meta.get("commit")
    if not (
        isinstance(commit, str) and len(commit) == 40 and set(commit) <= set("0123456789abcdef")
    ):
        found.append("commit is not a 40-digit hash")
    if not isinstance(meta.get("dirty"), bool):
        found.append("dirty is not true/false")
    if not (isinstance(meta.get("command"), str) and meta["command"].strip()):
        found.append("no command")
    box = meta.get("machine")
    if not isinstance(box, dict):
        found.append("no machine")
    else:
        if not (isinstance(box.get("cpu_model"), str) and box["cpu_model"]):
            found.append("no CPU model")
        if not isinstance(box.get("cores"), int):
            found.append("no core count")
        if "torch_threads" not in box:
            found.append("no torch_threads (null when torch is not used)")
    load = meta.get("load_average")
    if not (
        isinstance(load, dict)
        and _numbers(load.get("before"), 3)
        and _numbers(load.get("after"), 3)
    ):
        found.append("no load average before and after")
    return found
