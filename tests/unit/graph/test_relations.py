"""Mention-level relations lifted to entities; a symmetric type stored once per pair."""

from __future__ import annotations

from kgbuild.data import Evidence, MentionRelation, Provenance, Span
from kgbuild.graph.build import resolve_relations
from kgbuild.ids import stable_id

# mentions a1, a2 are entity "a"; b1, b2 are entity "b"
TO_ENTITY = {"a1": "a", "a2": "a", "b1": "b", "b2": "b"}


def finding(head: str, tail: str, rel_type: str, score: float, doc: str) -> MentionRelation:
    provenance = Provenance(
        doc_id=doc,
        chunk_id=f"{doc}-0",
        span=Span(start=0, end=20),
        score=score,
        model="m",
        model_revision="r",
        run_id="run",
        stage="relations",
    )
    evidence = Evidence(provenance=provenance, text="A married B.", head=head, tail=tail)
    return MentionRelation(
        id=f"{head}-{rel_type}-{tail}",
        head_mention=head,
        tail_mention=tail,
        type=rel_type,
        score=score,
        evidence=(evidence,),
    )


def test_a_symmetric_type_found_both_ways_is_one_relation_from_the_smaller_id() -> None:
    found = [finding("b1", "a1", "SPOUSE", 0.9, "d"), finding("a2", "b2", "SPOUSE", 0.6, "e")]
    (relation,) = resolve_relations(found, TO_ENTITY, {"SPOUSE"})
    assert (relation.head, relation.type, relation.tail) == ("a", "SPOUSE", "b")
    assert relation.id == stable_id("rel", "a", "SPOUSE", "b")
    assert relation.score == 0.9  # the best of both directions
    # both findings' evidence, each with its head mention on the head entity "a"
    assert [(e.provenance.doc_id, e.head, e.tail) for e in relation.evidence] == [
        ("d", "a1", "b1"),
        ("e", "a2", "b2"),
    ]


def test_a_symmetric_type_found_one_way_from_the_larger_id_is_turned() -> None:
    (relation,) = resolve_relations(
        [finding("b1", "a1", "SPOUSE", 0.7, "d")], TO_ENTITY, {"SPOUSE"}
    )
    assert (relation.head, relation.tail) == ("a", "b")
    assert (relation.evidence[0].head, relation.evidence[0].tail) == ("a1", "b1")


def test_other_types_keep_both_directions_as_found() -> None:
    found = [
        finding("b1", "a1", "EMPLOYER", 0.9, "d"),
        finding("a2", "b2", "EMPLOYER", 0.6, "e"),
        finding("b1", "a1", "SPOUSE", 0.8, "d"),
    ]
    lifted = resolve_relations(found, TO_ENTITY, {"SISTER_CITY"})
    assert [(r.head, r.type, r.tail, r.evidence[0].head) for r in lifted] == [
        ("a", "EMPLOYER", "b", "a2"),
        ("b", "EMPLOYER", "a", "b1"),
        ("b", "SPOUSE", "a", "b1"),
    ]
    assert lifted == resolve_relations(found, TO_ENTITY)
