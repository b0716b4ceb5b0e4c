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
