import pytest

from kgbuild.nlp.name_checks import is_cased, is_english, trim_function_words, written_lowercase


def trimmed(text: str, name: str) -> str | None:
    start = text.index(name)
    span = trim_function_words(text, start, start + len(name))
    return None if span is None else text[span[0] : span[1]]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Bluefin Analytics of", "Bluefin Analytics"),
        ("Sacket's Harbor and", "Sacket's Harbor"),
        ("board of advisers at the", "board of advisers"),
        ("of Singapore", "Singapore"),
        ("in the United Kingdom", "the United Kingdom"),
        ("the United Kingdom", "the United Kingdom"),
        ("Bank Of", "Bank Of"),
        ("Bank of England", "Bank of England"),
        ("the", None),
        ("of the", None),
    ],
)
def test_function_words_come_off_the_edges_of_a_span(name: str, expected: str | None) -> None:
    text = f"Before {name} after."
    assert trimmed(text, name) == expected


def test_trimmed_offsets_point_into_the_text() -> None:
    text = "It bought Bluefin Analytics of Singapore."
    start = text.index("Bluefin")
    end, kept = trim_function_words(text, start, start + len("Bluefin Analytics of")) or (0, 0)
    assert text[end:kept] == "Bluefin Analytics"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("solar", True),
        ("free trade zone", True),
        ("Solar", False),
        ("iPhone", False),
        ("76ers", False),
        ("bdnews24.com", False),
        ("北京", False),
        ("ደቡብ ጎንደር", False),
    ],
)
def test_written_lowercase_needs_cased_letters_and_no_capital(name: str, expected: bool) -> None:
    assert written_lowercase(name) is expected


def test_a_document_is_cased_when_its_sentences_begin_with_capitals() -> None:
    news = ["Acme grew in 2023.", "It hired 40 people.", '"We are happy," she said.', "Sales rose."]
    assert is_cased(news)
    assert is_cased([*news * 3, "iPhone sales fell."])  # one lowercase start in 13 is allowed
    assert not is_cased([*news, "iPhone sales fell."])  # one in 5 is not
    assert not is_cased(news[:2])  # too short to tell
    assert not is_cased(["lol new york", "Going to see jake", "rt this", "ok"])
    assert not is_cased(["2023", "--", "Acme grew.", "It hired."])  # lines without letters
    assert is_cased(["2023", "--", "Acme grew.", "It hired.", "Sales rose."])  # do not count


@pytest.mark.parametrize(
    ("lang", "expected"), [("en", True), ("en-GB", True), ("EN_us", True), ("zh", False)]
)
def test_is_english(lang: str, expected: bool) -> None:
    assert is_english(lang) is expected
