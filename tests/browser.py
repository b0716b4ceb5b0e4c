"""Debian's chromium, headless: the DOM of a page after its scripts ran."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["chromium", "dump_dom"]


def chromium() -> str:
    """The chromium binary; skips the test where it is not installed (fails under CI)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return browser


def dump_dom(url: str, profile: Path, *, budget_ms: int = 30_000) -> str:
    """Open ``url`` headless with a fresh profile and return the DOM it ends with."""
    run = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}", "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.stdout, run.stderr[-2000:]
    return run.stdout
