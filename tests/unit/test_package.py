"""What ``import kgbuild`` sets up before torch runs anything."""

from __future__ import annotations

import os
import subprocess
import sys


def _capacity_after_import(env: dict[str, str]) -> str:
    code = "import os, kgbuild; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def test_import_keeps_1024_onednn_kernels_unless_the_environment_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    # 64 made torch rebuild bf16 kernels all the time (NER and relations use 300-500 shapes)
    assert _capacity_after_import(env) == "1024"
    assert _capacity_after_import({**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64"}) == "64"


def _spin_after_import(env: dict[str, str]) -> str:
    code = "import os, kgbuild; print(os.environ.get('GOMP_SPINCOUNT', '(unset)'))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def test_import_makes_waiting_cpu_threads_sleep_soon_unless_the_environment_says_otherwise() -> (
    None
):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    # spinning 300,000 times made builds 3-5x slower beside another busy process
    assert _spin_after_import(env) == "10000"
    assert _spin_after_import({**env, "GOMP_SPINCOUNT": "300000"}) == "300000"
    # a wait policy of the user's own is a choice too: kgbuild leaves the spin count alone
    assert _spin_after_import({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "(unset)"
