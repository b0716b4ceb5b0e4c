import pytest

from kgbuild.training.metrics import ner_scores


def test_exact_match_is_perfect() -> None:
    tags = [["B-PER", "I-PER", "O", "B-LOC"]]
    scores = ner_scores(tags, tags)
    assert scores.micro.f1 == 1.0
    assert scores.micro.support == 2


def test_partial_boundary_counts_as_wrong() -> None:
    gold = [["B-PER", "I-PER", "O"]]
    pred = [["B-PER", "O", "O"]]
    scores = ner_scores(gold, pred)
    assert scores.micro.precision == 0.0
    assert scores.micro.recall == 0.0
    assert scores.micro.f1 == 0.0


def test_wrong_type_counts_as_wrong() -> None:
    gold = [["B-ORG", "I-ORG"]]
    pred = [["B-LOC", "I-LOC"]]
    scores = ner_scores(gold, pred)
    assert scores.micro.f1 == 0.0
    assert scores.per_type["ORG"].recall == 0.0
    assert scores.per_type["LOC"].precision == 0.0
    assert scores.per_type["LOC"].support == 0


def test_per_type_numbers_hand_checked() -> None:
    # gold: PER(0-1), LOC(3), ORG(0), MISC(2-3); predicted: PER(0), LOC(3), LOC(0), MISC(2-3)
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-MISC", "I-MISC"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "O", "B-MISC", "I-MISC"]]
    scores = ner_scores(gold, pred)
    assert scores.micro.precision == pytest.approx(2 / 4)
    assert scores.micro.recall == pytest.approx(2 / 4)
    loc = scores.per_type["LOC"]
    assert (loc.precision, loc.recall, loc.support, loc.predicted) == (0.5, 1.0, 1, 2)
    assert loc.f1 == pytest.approx(2 / 3)
    assert scores.per_type["MISC"].f1 == 1.0
    assert scores.per_type["ORG"].predicted == 0
    assert scores.per_type["PER"].f1 == 0.0


def test_conlleval_i_after_o_starts_an_entity_and_bmes_is_understood() -> None:
    # I-PER after O opens a PER entity (conlleval); M- is read as I-.
    assert ner_scores([["O", "B-PER"]], [["O", "I-PER"]]).micro.f1 == 1.0
    gold = [["B-NAME", "M-NAME", "E-NAME", "S-ORG"]]
    scores = ner_scores(gold, gold)
    assert set(scores.per_type) == {"NAME", "ORG"}
    assert scores.micro.support == 2


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        ner_scores([["O"]], [["O", "O"]])
