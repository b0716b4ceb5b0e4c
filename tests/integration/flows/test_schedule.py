"""A real schedule: a local Prefect server, ``kgbuild schedule`` serving the flow every few
seconds, a document added to the watched folder, and the scheduled run that puts it in Neo4j."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from kgbuild.config import Settings
from kgbuild.store.neo4j.server import free_port
from tests.conftest import REPO
from tests.integration.neo4j.conftest import open_driver, wipe
from tests.neo4j_session import Neo4jTarget

from .conftest import runs

pytestmark = [pytest.mark.prefect, pytest.mark.neo4j]

BIN = Path(sys.executable).parent
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, log: Path) -> T:
    """Poll ``probe`` until it returns something (not a timing assertion: a deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None and value is not False:
            return value
        time.sleep(1.0)
    tail = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; log:\n{tail}")


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM (background processes ignore SIGINT), then SIGKILL if it does not exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``prefect server start`` on a free loopback port; yields its API URL and client env."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"prefect server exited {server.returncode}")
            try:
                return httpx.get(f"{api}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the Prefect server", healthy, 180, log)
        yield api, env
    finally:
        stop(server)


def completed_runs(api: str, at_least: int) -> list[dict[str, Any]] | None:
    """Flow runs created by a deployment's schedule, once ``at_least`` of them completed."""
    flow_runs: list[dict[str, Any]] = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"is_null_": False}}},
        timeout=10,
    ).json()
    done = [r for r in flow_runs if r["state_type"] == "COMPLETED"]
    return flow_runs if len(done) >= at_least else None


def test_a_scheduled_run_picks_up_a_new_document_and_writes_it_to_neo4j(
    prefect_server: tuple[str, dict[str, str]],
    neo4j_target: Neo4jTarget,
    keyword_ner_model: Path,
    tmp_path: Path,
) -> None:
    api, env = prefect_server
    driver = open_driver(neo4j_target.uri, neo4j_target.auth)
    wipe(driver, neo4j_target.database)
    watched = tmp_path / "inbox"
    watched.mkdir()
    (watched / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.", "utf-8")
    (watched / "b.txt").write_text("David Chen works for Granite Capital in Berlin.", "utf-8")
    out = tmp_path / "out"
    settings = Settings(out_dir=out)  # only to read the ledger the scheduled runs write
    if neo4j_target.auth:
        env = {**env, "NEO4J_USER": neo4j_target.auth[0], "NEO4J_PASSWORD": neo4j_target.auth[1]}
    env = {**env, "NEO4J_DATABASE": neo4j_target.database}
    log = tmp_path / "serve.log"
    command = [
        str(BIN / "kgbuild"),
        "schedule",
        str(watched),
        "--interval",
        "5",
        "--out",
        str(out),
        "--model",
        str(keyword_ner_model),
        "--neo4j",
        neo4j_target.uri,
    ]
    with log.open("wb") as sink:
        serve = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:

        def succeeded(processed: int, skipped: int) -> bool:
            if serve.poll() is not None:
                raise AssertionError(f"kgbuild schedule exited {serve.returncode}")
            if not (out / "ledger.sqlite").exists():
                return False
            return any(
                (r.status, r.processed, r.skipped) == ("succeeded", processed, skipped)
                for r in runs(settings)
            )

        wait_for("a first scheduled run", lambda: succeeded(2, 0), 300, log)
        (watched / "c.txt").write_text("Omar Haddad joined Helix in Nairobi.", "utf-8")
        wait_for("a scheduled run that picks up c.txt", lambda: succeeded(1, 2), 300, log)
        scheduled_runs = wait_for(
            "Prefect to record two completed scheduled runs",
            lambda: completed_runs(api, 2),
            120,
            log,
        )
    finally:
        stop(serve)

    records, _, _ = driver.execute_query(
        "MATCH (d:Document) RETURN d.id AS id ORDER BY id", database_=neo4j_target.database
    )
    assert [r["id"] for r in records] == ["a.txt", "b.txt", "c.txt"]
    records, _, _ = driver.execute_query(
        "MATCH (e:Entity)<-[:REFERS_TO]-(:Mention)-[:IN_CHUNK]->(:Chunk)-[:PART_OF]->"
        "(:Document {id: 'c.txt'}) RETURN e.name AS name",
        database_=neo4j_target.database,
    )
    assert {r["name"] for r in records} >= {"Omar Haddad"}
    driver.close()

    deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    (deployment,) = [d for d in deployments if d["name"] == "kgbuild-scheduled"]
    completed = [r for r in scheduled_runs if r["state_type"] == "COMPLETED"]
    assert {r["deployment_id"] for r in scheduled_runs} == {deployment["id"]}
    assert all(r["parameters"]["paths"] == [str(watched)] for r in completed)
    if neo4j_target.auth:  # secrets stay in the serving process's environment
        assert neo4j_target.auth[1] not in str(scheduled_runs)

    # prefect.yaml deploys the same flow to a work pool on this server.
    deploy_env = {**env, "KGBUILD_REPO": str(REPO), "KGBUILD_INBOX": str(watched)}
    for command in (
        ["work-pool", "create", "kgbuild", "--type", "process"],
        ["--no-prompt", "deploy", "--all"],
    ):
        done = subprocess.run(
            [str(BIN / "prefect"), *command], env=deploy_env, cwd=REPO, capture_output=True
        )
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    (pooled,) = [d for d in deployments if d["name"] == "kgbuild-hourly"]
    assert pooled["flow_id"] == deployment["flow_id"]  # the flow `kgbuild schedule` serves
    assert pooled["work_pool_name"] == "kgbuild"
    assert pooled["entrypoint"] == "kgbuild_flows/schedule.py:scheduled_build_flow"
    assert pooled["parameters"]["paths"] == [str(watched)]
    assert [s["schedule"]["cron"] for s in pooled["schedules"]] == ["0 * * * *"]
