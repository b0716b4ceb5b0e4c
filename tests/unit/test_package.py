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


def _wait_policy_after_import(env: dict[str, str]) -> str:
    code = "import os, kgbuild; print(os.environ.get('OMP_WAIT_POLICY', '(unset)'))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def test_import_makes_waiting_cpu_threads_sleep_unless_the_environment_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    # spinning threads made builds 3-5x slower beside another busy process (bench_contention)
    assert _wait_policy_after_import(env) == "PASSIVE"
    assert _wait_policy_after_import({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
    # a spin count of the user's own is a choice too: kgbuild leaves the policy alone
    assert _wait_policy_after_import({**env, "GOMP_SPINCOUNT": "300000"}) == "(unset)"
