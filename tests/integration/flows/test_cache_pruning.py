"""The batch cache under real Prefect: a successful run removes its ledger's stale batches."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from kgbuild import pipeline

pytestmark = pytest.mark.prefect


def stored(storage: Path) -> dict[str, bytes]:
    """Every file of the result storage, by name."""
    return {path.name: path.read_bytes() for path in storage.iterdir()}


@pytest.fixture
def extracted(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ids of each batch the models ran over (not read from the cache)."""
    batches: list[list[str]] = []
    extract = pipeline.extract

    def counted(documents: list[Any], stages: Any) -> Any:
        batches.append([doc.id for doc in documents])
        return extract(documents, stages)

    monkeypatch.setattr(pipeline, "extract", counted)
    return batches


def test_a_run_removes_its_ledgers_stale_batches_and_the_current_ones_still_serve(
    prefect_harness: None,
    corpus: Path,
    keyword_ner_model: Path,
    settings_for,
    tmp_path: Path,
    extracted: list[list[str]],
) -> None:
    """Nothing removed cached batches: every changed document left its old batch (and the
    batch of the run that redid it) in the result storage for good, though no later run can
    read them. Another ledger's batches and other flows' results in the same storage stay."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    from kgbuild_flows.build_kg import build_kg_flow

    storage = tmp_path / "prefect-results"
    settings = settings_for(keyword_ner_model).model_copy(update={"docs_per_batch": 8})
    other_docs = tmp_path / "other-docs"
    other_docs.mkdir()
    (other_docs / "a.txt").write_text("Omar Haddad joined Helix in Nairobi.", "utf-8")
    other = settings.model_copy(update={"out_dir": tmp_path / "other-out"})
    with temporary_settings(updates={PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage}):
        build_kg_flow([str(other_docs)], other)  # another project's cached batch
        (storage / "another-flows-result").write_bytes(b"{}")
        theirs = stored(storage)
        first = build_kg_flow([str(corpus)], settings)
        after_first = stored(storage)
        (corpus / "001_acme_founding.txt").write_text(
            "Maria Gonzalez moved Acme Robotics to Lisbon.", encoding="utf-8"
        )
        second = build_kg_flow([str(corpus)], settings)
        after_second = stored(storage)
        (settings.out_dir / "ledger.sqlite").unlink()  # every document to extract again
        extracted.clear()
        third = build_kg_flow([str(corpus)], settings)
        after_third = stored(storage)

    assert (first.processed, second.processed, third.processed) == (30, 1, 30)
    ours = [name for name in after_first if name not in theirs]
    assert len(theirs) == 2 and len(ours) == 4
    # the first batch (with the old 001) is gone, and so is the batch of the one document
    # the second run redid: a later run forms neither again
    assert len(after_second) == len(theirs) + 3
    assert all(after_second[name] == after_first[name] for name in after_second)
    # the three batches the edit left alone still serve a rebuild
    assert len(extracted) == 1 and extracted[0][0] == "001_acme_founding.txt"
    assert (third.entities, third.failed) == (second.entities, 0)
    assert len(after_third) == len(theirs) + 4
    assert {name: after_third[name] for name in theirs} == theirs


def test_a_batch_cached_longer_ago_than_cache_days_is_removed(
    prefect_harness: None,
    keyword_ner_model: Path,
    settings_for,
    tmp_path: Path,
    extracted: list[list[str]],
) -> None:
    """Prefect reads no batch past its expiration (``cache_days``), but kept its file."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    from kgbuild_flows.build_kg import build_kg_flow

    storage = tmp_path / "prefect-results"
    settings = settings_for(keyword_ner_model)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.", "utf-8")
    with temporary_settings(updates={PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage}):
        build_kg_flow([str(docs)], settings)
        (cached,) = storage.iterdir()
        eight_days_ago = time.time() - 8 * 86400
        os.utime(cached, (eight_days_ago, eight_days_ago))
        build_kg_flow([str(docs)], settings)  # nothing to extract
        assert not cached.exists()
        (settings.out_dir / "ledger.sqlite").unlink()
        build_kg_flow([str(docs)], settings)
    assert extracted == [["a.txt"], ["a.txt"]]  # computed again, and cached again
    assert [path.name for path in storage.iterdir()] == [cached.name]


def test_builds_sharing_a_ledger_remove_only_their_own_batches(
    prefect_harness: None,
    keyword_ner_model: Path,
    settings_for,
    tmp_path: Path,
    extracted: list[list[str]],
) -> None:
    """Two builds of other inputs into other output folders shared one ledger (one key
    prefix): the second's pruning took the first's batches, of documents not among its
    inputs, for unreadable and removed them, and the first computed them all again."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    from kgbuild_flows.build_kg import build_kg_flow
    from kgbuild_flows.caching import KEY_PREFIX, ledger_prefix

    storage = tmp_path / "prefect-results"
    ledger = f"sqlite:///{(tmp_path / 'shared-ledger.sqlite').as_posix()}"
    shared = settings_for(keyword_ner_model).model_copy(update={"ledger_url": ledger})
    first = shared.model_copy(update={"out_dir": tmp_path / "out-a"})
    second = shared.model_copy(update={"out_dir": tmp_path / "out-b"})
    docs_a, docs_b = tmp_path / "docs-a", tmp_path / "docs-b"
    docs_a.mkdir()
    docs_b.mkdir()
    (docs_a / "a.txt").write_text("Maria Gonzalez founded Acme Robotics in Toronto.", "utf-8")
    (docs_b / "b.txt").write_text("Omar Haddad joined Helix in Nairobi.", "utf-8")
    # this ledger's batch cached before keys named the build (no build reads it now), and
    # one cached before keys named the ledger (left for people to delete)
    unscoped = ledger_prefix(first) + "0" * 64
    unnamed = KEY_PREFIX + "0" * 64
    with temporary_settings(updates={PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage}):
        build_kg_flow([str(docs_a)], first)
        firsts = stored(storage)
        (storage / unscoped).write_bytes(b"{}")
        (storage / unnamed).write_bytes(b"{}")
        build_kg_flow([str(docs_b)], second)
        after_second = stored(storage)
        extracted.clear()
        again = build_kg_flow([str(docs_a)], first)  # a.txt is deleted in the ledger
        after_again = stored(storage)

    (a_batch,) = firsts
    (b_batch,) = set(after_second) - {a_batch, unnamed}
    assert set(after_second) == {a_batch, b_batch, unnamed}
    assert after_second[a_batch] == firsts[a_batch]
    # the first build's re-run read its batch back, and left the second's batch alone
    assert extracted == [] and (again.processed, again.failed) == (1, 0)
    assert after_again == after_second
