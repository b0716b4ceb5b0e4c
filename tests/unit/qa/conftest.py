"""The example graph the question-answering tests ask (built once per test module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgbuild.config import Settings
from tests.unit.qa.test_ask import build_example


@pytest.fixture(scope="module")
def example(
    tmp_path_factory: pytest.TempPathFactory,
    keyword_ner_model: Path,
    keyword_re_model: Path,
    keyword_qa_model: Path,
) -> Settings:
    """The example documents built with the tiny keyword models (NER, relations, attributes)."""
    return build_example(
        tmp_path_factory.mktemp("example"), keyword_ner_model, keyword_re_model, keyword_qa_model
    )
