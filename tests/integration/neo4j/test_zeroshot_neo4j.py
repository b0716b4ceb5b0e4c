"""A relation type added to the schema with a question template reaches Neo4j with evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from neo4j import Driver

from kgbuild.config import Neo4jConfig
from kgbuild.pipeline import build
from tests.unit.stages.test_zeroshot import WORK_TEXTS, ZERO_SHOT_SCHEMA, zero_shot_settings

from .conftest import Neo4jTarget
from .test_pipeline_neo4j import query, write_docs

pytestmark = pytest.mark.neo4j


def test_a_template_relation_type_is_written_to_neo4j_with_its_evidence(
    tmp_path: Path,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    keyword_qa_model: Path,
    clean_db: Driver,
    neo4j_target: Neo4jTarget,
) -> None:
    folder = write_docs(tmp_path / "docs", WORK_TEXTS)
    user, password = neo4j_target.auth if neo4j_target.auth else ("neo4j", None)
    settings = zero_shot_settings(
        tmp_path, keyword_ner_model, keyword_re_model, keyword_qa_model, ZERO_SHOT_SCHEMA
    ).model_copy(
        update={
            "neo4j": Neo4jConfig(
                uri=neo4j_target.uri, user=user, password=password, database=neo4j_target.database
            )
        }
    )
    report = build([folder], settings)
    assert report.neo4j
    rows = query(
        clean_db,
        neo4j_target.database,
        """
        MATCH (h:Entity)-[r:EMPLOYER]->(t:Entity)
        RETURN h.name AS head, t.name AS tail, r.evidence AS evidence, r.evidence_doc_ids AS docs""",
    )
    assert {
        "head": "maria gonzalez",
        "tail": "acme robotics",
        "evidence": ["maria gonzalez works for acme robotics in berlin ."],
        "docs": ["a.txt"],
    } in rows
    # the answers of the wrong kind were refused: no such relationship in the store
    wrong = query(clean_db, neo4j_target.database, "MATCH ()-[r:EMPLOYER_PLACE]->() RETURN r")
    assert wrong == []
