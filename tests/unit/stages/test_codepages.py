import pytest

from kgbuild.stages.codepages import choose_code_page


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("The flat is 50 m² and costs £300, “as agreed” – José.", "cp1252"),  # signs apart
        ("Add ¼ cup of sugar.", "cp1252"),  # cp1250 reads "Ľ cup": Slovak, but one letter more
        ("Jiří and Michał founded Acme.", "cp1250"),  # cp1252 "Micha³": a sign in a word
        ("Vive en el 2º piso de la calle Mayor.", "cp1252"),  # "2ş" is Romanian: words tell
    ],
)
def test_signs_and_words_single_out_the_code_page(text: str, codec: str) -> None:
    choice = choose_code_page(text.encode(codec))
    assert choice.chosen is not None and choice.chosen.text == text
    assert codec in choice.chosen.encodings


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("Компания Акме основана в Берлине.", "cp1251"),  # Latin-1 letters in cp1252
        ("Ayşe Yılmaz founded Acme.", "cp1254"),  # cp1252 "Ayþe Ýlmaz": Icelandic letters
        ("Acme opened an office. ëŠÂüç", "cp1252"),  # capitals after small letters: noise
    ],
)
def test_other_alphabets_and_close_calls_are_not_chosen(text: str, codec: str) -> None:
    assert choose_code_page(text.encode(codec)).chosen is None
