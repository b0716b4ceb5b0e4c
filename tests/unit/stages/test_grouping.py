"""Local entities: one document's mentions grouped, once per batch for all its stages."""

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from kgbuild.config import NerConfig, ResolveConfig, Settings
from kgbuild.data import Document, Mention, Provenance, Span
from kgbuild.extraction import Extractor
from kgbuild.ids import content_hash, stable_id
from kgbuild.stages import grouping, registry
from kgbuild.stages.grouping import local_entities, shared_grouping
from kgbuild.stages.registry import StageBatch, StageContext, stage_factory


def _mentions(doc_id: str, named: Sequence[tuple[str, str]]) -> list[Mention]:
    mentions, at = [], 0
    for text, label in named:
        span = Span(start=at, end=at + len(text))
        provenance = Provenance(doc_id=doc_id, chunk_id=f"{doc_id}-c0", span=span, score=0.9,
                                model="gold", model_revision="-", run_id="r", stage="ner")  # fmt: skip
        mentions.append(Mention(id=stable_id("m", doc_id, at), text=text, label=label,
                                provenance=provenance))  # fmt: skip
        at += len(text) + 1
    return mentions


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times resolution ran, per document (the real resolution still runs)."""
    counts: Counter[str] = Counter()
    real = grouping.find_clusters

    def counting(
        labels: Sequence[str], texts: Sequence[str], doc_ids: Sequence[str], *args: Any, **kw: Any
    ) -> Any:
        counts[doc_ids[0]] += 1
        return real(labels, texts, doc_ids, *args, **kw)

    monkeypatch.setattr(grouping, "find_clusters", counting)
    return counts


def test_a_document_is_grouped_once_inside_the_block(resolutions: Counter[str]) -> None:
    mentions = _mentions("d", [("Acme Corp", "ORG"), ("Mary Smith", "PER"), ("Acme", "ORG")])
    alone = local_entities(mentions, ResolveConfig())
    with shared_grouping():
        first = local_entities(mentions, ResolveConfig())
        again = local_entities(list(reversed(mentions)), ResolveConfig())  # same document
        assert resolutions["d"] == 2
        other = local_entities(mentions, ResolveConfig(threshold=99.0))  # other settings
        assert resolutions["d"] == 3
        first.clear()  # a caller's list is its own
        assert local_entities(mentions, ResolveConfig()) == alone
    assert again == alone and other
    assert [e.label for e in alone] == ["ORG", "PER"]  # Acme joined Acme Corp
    local_entities(mentions, ResolveConfig())  # nothing kept after the block
    assert resolutions["d"] == 4


@pytest.fixture
def scratch_names() -> Iterator[tuple[str, str]]:
    """Two stage names free for a test to register (removed again afterwards)."""
    names = ("test.grouping-a", "test.grouping-b")
    yield names
    for name in names:
        registry._REGISTRY.pop(name, None)


def test_the_stages_of_a_batch_share_its_grouped_documents(
    tmp_path: Path,
    random_ner_model: Path,
    scratch_names: tuple[str, str],
    resolutions: Counter[str],
) -> None:
    grouped: dict[str, list[int]] = {}

    class Grouping:
        """Groups every document of the batch, as the relation and attribute stages do."""

        languages = None
        model_key = "grouping.v1"

        def __init__(self, label: str) -> None:
            self.label = label

        def __call__(self, batch: StageBatch) -> None:
            for doc in batch.documents:
                found = _mentions(doc.id, [("Acme Corp", "ORG"), ("Acme", "ORG")])
                grouped.setdefault(doc.id, []).append(len(local_entities(found, ResolveConfig())))

    for name in scratch_names:

        @stage_factory(name, label=name, section="ner", reads=("mentions",), assigns=())
        def make(settings: Settings, context: StageContext, name: str = name) -> Grouping:
            return Grouping(name)

    settings = Settings(out_dir=tmp_path, ner=NerConfig(model=str(random_ner_model)))
    extractor = Extractor(settings, run_id="r", stages=("ner", *scratch_names))
    texts = ["Acme opened.", "Acme grew."]
    documents = [
        Document(id=f"d{i}", text=t, source=f"d{i}", content_hash=content_hash(t), lang="en")
        for i, t in enumerate(texts)
    ]
    extractor(documents)
    assert grouped == {"d0": [1, 1], "d1": [1, 1]}
    assert resolutions == {"d0": 1, "d1": 1}
    extractor(documents[:1])  # the next batch groups afresh
    assert resolutions == {"d0": 2, "d1": 1}


def test_a_document_is_grouped_with_the_context_veto_switched_on() -> None:
    # the veto needs the sentences, which one document's grouping has not: every document
    # of a build with relations or attributes failed with "context_similarity needs the
    # sentences"; the veto weighs merges across documents, not within one
    mentions = _mentions("d", [("Acme Corp", "ORG"), ("Mary Smith", "PER"), ("Acme", "ORG")])
    vetoing = local_entities(mentions, ResolveConfig(context_similarity=True))
    assert vetoing == local_entities(mentions, ResolveConfig())
