import pytest

from kgbuild.nlp.quantities import widen_quantity


def widened(text: str, number: str) -> str:
    start = text.index(number)
    wide_start, wide_end = widen_quantity(text, start, start + len(number))
    return text[wide_start:wide_end]


@pytest.mark.parametrize(
    ("text", "number", "expected"),
    [
        ("It raised $30 million in 2019.", "30", "$30 million"),
        ("It raised $ 30 million in 2019.", "30", "$ 30 million"),
        ("a grant of US$ 300 from them", "300", "US$ 300"),
        ("sales of €2.5 billion", "2.5", "€2.5 billion"),
        ("turnout was 91.9 % in May", "91.9", "91.9 %"),
        ("up 4 percent on the year", "4", "4 percent"),
        ("up 4 per cent on the year", "4", "4 per cent"),
        ("3 thousand years", "3", "3 thousand"),
        ("a 3 millionaire", "3", "3"),  # a scale word is a whole word
        ("costs $  30 today", "30", "30"),  # more than one space: not the number's sign
        ("In 2019 the 30 members met", "30", "30"),
    ],
)
def test_quantities_take_in_their_currency_percent_and_scale(
    text: str, number: str, expected: str
) -> None:
    assert widened(text, number) == expected
