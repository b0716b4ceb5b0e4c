"""The question-answering Neo4j store: how it opens its driver."""

from __future__ import annotations

from typing import Any

import pytest

from kgbuild.qa import neo4j_store


def test_driver_silences_unknown_type_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph without attributes must not make `kgbuild ask --neo4j` print server warnings."""
    seen: dict[str, Any] = {}

    def fake_driver(uri: str, **kwargs: Any) -> object:
        seen.update(kwargs, uri=uri)
        return object()

    monkeypatch.setattr(neo4j_store.GraphDatabase, "driver", fake_driver)
    neo4j_store.Neo4jGraph("bolt://127.0.0.1:7687", auth=("neo4j", "pw"))
    assert seen["uri"] == "bolt://127.0.0.1:7687"
    assert "UNRECOGNIZED" in seen["notifications_disabled_classifications"]
