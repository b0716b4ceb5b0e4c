"""docker-compose.yml and prefect.yaml: valid YAML describing what docs/pipeline.md promises."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.conftest import REPO


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_has_neo4j_postgres_and_prefect_with_healthchecks_and_no_secrets() -> None:
    compose = load("docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"neo4j", "postgres", "prefect-server"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert set(compose["volumes"]) >= {"neo4j-data", "postgres-data"}
    prefect = services["prefect-server"]
    assert prefect["image"].startswith("prefecthq/prefect:3.9-python3.11")
    assert prefect["command"][:5] == ["prefect", "server", "start", "--host", "0.0.0.0"]
    url = prefect["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/prefect" in url
    assert prefect["depends_on"]["postgres"]["condition"] == "service_healthy"

    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    for variable in ("NEO4J_PASSWORD", "POSTGRES_PASSWORD"):
        assert re.search(r"\$\{" + variable + r":\?[^}]+\}", text), variable
    postgres_env = services["postgres"]["environment"]
    assert postgres_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert services["neo4j"]["environment"]["NEO4J_AUTH"].startswith("neo4j/${NEO4J_PASSWORD:?")


def test_prefect_yaml_deploys_the_scheduled_flow_that_kgbuild_schedule_serves() -> None:
    from kgbuild_flows.schedule import scheduled_build_flow

    (deployment,) = load("prefect.yaml")["deployments"]
    path, name = deployment["entrypoint"].split(":")
    assert (REPO / path).is_file() and name == scheduled_build_flow.fn.__name__
    assert set(deployment["parameters"]) == {"paths", "config", "overrides"}
    assert deployment["schedules"][0]["cron"] == "0 * * * *"
    assert deployment["work_pool"]["name"]
    assert "password" not in str(deployment).lower()
