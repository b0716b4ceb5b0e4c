"""What a flow run records in the Prefect database (and shows in its UI) holds no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from kgbuild.config import Neo4jConfig
from tests import pg

pytestmark = pytest.mark.prefect


def test_the_flow_run_parameters_hold_no_ledger_or_neo4j_password(
    prefect_harness: None, tmp_path: Path, keyword_ner_model: Path, settings_for
) -> None:
    """The PostgreSQL ledger URL (as docs/pipeline.md sets it, password inside) was stored
    as given in the build-kg flow run's parameters."""
    if not pg.available():
        pytest.skip("PostgreSQL is not installed here")
    from prefect.client.orchestration import get_client

    from kgbuild_flows.build_kg import build_kg_flow

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.", "utf-8")
    with pg.postgres_server() as url:  # trust authentication: any password is let in
        ledger_url = url.replace("://kgbuild@", "://kgbuild:pg-s3cret@")
        assert ledger_url != url
        settings = settings_for(keyword_ner_model).model_copy(
            update={
                "ledger_url": ledger_url,
                "neo4j": Neo4jConfig(password=SecretStr("neo4j-s3cret")),
            }
        )
        report = build_kg_flow([str(docs)], settings)
        assert report.processed == 1  # the ledger was reached with the URL as given
        state = build_kg_flow([str(docs)], settings, return_state=True)
    with get_client(sync_client=True) as client:
        recorded = client.read_flow_run(state.state_details.flow_run_id).parameters
    stored = str(recorded)
    assert "pg-s3cret" not in stored and "neo4j-s3cret" not in stored
    assert url.split("@")[1] in stored  # the ledger's host, port and database are still there
