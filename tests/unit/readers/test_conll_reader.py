from pathlib import Path

import pytest
from pydantic import ValidationError

from kgbuild.errors import DataFormatError, KGBuildError
from kgbuild.readers.conll import TaggedSentence, read_conll

GOOD = """-DOCSTART- -X- -X- O

Acme NNP B-NP B-ORG
hires VBZ B-VP O
Dutch JJ B-NP B-MISC

Maria NNP B-NP B-PER
Gonzalez NNP I-NP I-PER

-DOCSTART- -X- -X- O

Tab\tO
separated\tB-LOC
"""


def test_reads_sentences_skipping_docstart(tmp_path: Path) -> None:
    path = tmp_path / "good.txt"
    path.write_text(GOOD, encoding="utf-8")
    sentences = read_conll(path)
    assert sentences == [
        TaggedSentence(tokens=("Acme", "hires", "Dutch"), tags=("B-ORG", "O", "B-MISC")),
        TaggedSentence(tokens=("Maria", "Gonzalez"), tags=("B-PER", "I-PER")),
        TaggedSentence(tokens=("Tab", "separated"), tags=("O", "B-LOC")),
    ]


def test_last_sentence_without_trailing_blank_line_and_bmes(tmp_path: Path) -> None:
    path = tmp_path / "bmes.txt"
    path.write_text("李 B-NAME\n明 E-NAME\n\uff1a O", encoding="utf-8")
    (sentence,) = read_conll(path)
    assert sentence.tokens == ("李", "明", "\uff1a")
    assert sentence.tags == ("B-NAME", "E-NAME", "O")


def test_sentence_is_frozen() -> None:
    sentence = TaggedSentence(tokens=("a",), tags=("O",))
    with pytest.raises(ValidationError):
        sentence.tokens = ("b",)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TaggedSentence(tokens=("a", "b"), tags=("O",))


@pytest.mark.parametrize(
    ("bad_line", "lineno"),
    [("lonely", 4), ("word X BOGUS", 4), ("word\t", 4)],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, bad_line: str, lineno: int) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(f"a O\nb B-PER\n\n{bad_line}\nc O\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"bad\.txt:{lineno}:") as info:
        read_conll(path)
    assert isinstance(info.value, KGBuildError)


def test_a_file_mixing_bio_and_iobes_entities_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("Acme B-ORG\nhires O\n\nParis S-LOC\nis O\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        read_conll(path)
    message = str(info.value)
    assert message.startswith(f"{path}:1: entity tag 'B-ORG' is followed by 'O'")
    assert f"but {path}:4 tags 'S-LOC' as in IOBES" in message
    assert "the file mixes BIO with IOBES" in message


def test_a_file_mixing_bmes_and_iobes_prefixes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("a B-ORG\nb M-ORG\nc E-ORG\n\nd B-ORG\ne I-ORG\nf E-ORG\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        read_conll(path)
    assert str(info.value).startswith(
        f"{path}:6: tag 'I-ORG' names the inside of an entity with I-, but {path}:2 tags "
        "'M-ORG': the file mixes BIO/IOBES with BMES"
    )


@pytest.mark.parametrize(
    "tags",
    [
        "I-PER O I-LOC I-LOC B-LOC",  # IOB1: I- opens an entity
        "B-PER O B-LOC I-LOC B-LOC",  # IOB2
        "S-PER O B-LOC I-LOC E-LOC",  # IOBES
        "U-PER O B-LOC I-LOC L-LOC",  # BILOU
        "S-PER O B-LOC M-LOC",  # BMES, an entity split across sentences (Resume)
    ],
)
def test_one_scheme_per_file_is_read(tmp_path: Path, tags: str) -> None:
    path = tmp_path / "one.txt"
    words = "\n".join(f"w{i} {tag}" for i, tag in enumerate(tags.split()))
    path.write_text(f"{words}\n\nx O\ny E-LOC\n" if "M-" in tags else words, encoding="utf-8")
    assert read_conll(path)[0].tags == tuple(tags.split())


def test_a_bilou_file_with_a_bio_entity_names_bilou(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("a B-ORG\nb I-ORG\nc L-ORG\nd B-PER\ne O\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError,
        match="where every entity ends on an L- tag or is a lone "
        "U- tag: the file mixes BIO with BILOU",
    ):
        read_conll(path)
