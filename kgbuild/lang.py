"""Languages: which a document is in, and which a model reads.

Detection reads the script first: Chinese, Japanese and Korean apart, a text mostly in
one other alphabet (Cyrillic, Arabic, ...) as that alphabet's main language. A text in
Latin letters is told apart by its commonest words: German, French, Spanish, Italian,
Portuguese, Dutch, Swedish, Danish, Norwegian, Finnish, Polish, Czech, Slovak, Romanian,
Hungarian, Turkish, Indonesian or Vietnamese where that language's function words ("und",
"les", "och", "się", "için", "của") clearly outnumber English ones, any other as English.
The words count typed without their diacritics too ("sie", "icin", "cua": chat, URLs,
ASCII-only systems), and Malay reads as Indonesian. A model declares the languages it
reads in its manifest (``"languages": ["en"]``), and a model that does not is taken to
read any language.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from kgbuild.errors import ConfigError

__all__ = [
    "base_language",
    "covers",
    "detect_lang",
    "is_cjk",
    "language_code",
    "language_lookup",
    "model_languages",
    "script_lang",
    "script_languages",
]


def is_cjk(char: str) -> bool:
    """True for a CJK ideograph (the unified block and its first extension)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0370, 0x03FF, "el"),  # Greek
    (0x0400, 0x052F, "ru"),  # Cyrillic
    (0x0590, 0x05FF, "he"),  # Hebrew
    (0x0600, 0x06FF, "ar"),  # Arabic
    (0x0750, 0x077F, "ar"),  # Arabic supplement
    (0x0900, 0x097F, "hi"),  # Devanagari
    (0x0E00, 0x0E7F, "th"),  # Thai
)
"""Alphabets whose letters, when most of a text's, name its language (the main one)."""


def _is_kana(char: str) -> bool:
    return 0x3040 <= ord(char) <= 0x30FF or 0x31F0 <= ord(char) <= 0x31FF


def _is_hangul(char: str) -> bool:
    code = ord(char)
    return 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def _script_lang(char: str) -> str | None:
    code = ord(char)
    for first, last, lang in _SCRIPTS:
        if first <= code <= last:
            return lang
    return None


def detect_lang(text: str, *, sample: int = 4000) -> str:
    """Guess a text's language from its script.

    ``"zh"``, ``"ja"`` or ``"ko"`` when CJK ideographs, kana and Hangul make up a fifth
    of the letters (Japanese when a tenth of those are kana, Korean when Hangul
    outnumbers ideographs); the main language of an alphabet that holds more than half
    of the letters (``"ru"`` for Cyrillic, ``"ar"``, ``"el"``, ``"he"``, ``"hi"``,
    ``"th"``); for Latin letters, ``"de"``, ``"fr"``, ``"es"``, ``"it"``, ``"pt"``,
    ``"nl"``, ``"sv"``, ``"da"``, ``"nb"`` (Norwegian Bokmål), ``"fi"``, ``"pl"``,
    ``"cs"``, ``"sk"``, ``"ro"``, ``"hu"``, ``"tr"``, ``"id"`` (Malay too) or ``"vi"``
    where that language's function words, with or without their diacritics, are at least
    three (one for Vietnamese rich in its own letters) and more than twice the English ones
    (:func:`_latin_lang`); else ``"en"``.

    >>> detect_lang("Acme was founded in Berlin.")
    'en'
    >>> detect_lang("Die Firma wurde 2011 von Maria Gonzalez in Berlin gegründet und ist seitdem gewachsen.")
    'de'
    >>> detect_lang("阿克米机器人公司总部位于柏林。")
    'zh'
    >>> detect_lang("マリアはトロントで会社を設立した。"), detect_lang("마리아는 토론토에 산다.")
    ('ja', 'ko')
    >>> detect_lang("Мария основала Acme в Торонто.")
    'ru'
    """
    head = text[:sample]
    return script_lang(head) or _latin_lang(head)


def script_lang(text: str) -> str | None:
    """The language a text's script other than Latin names, else ``None``.

    The script part of :func:`detect_lang` (CJK ideographs, kana and Hangul from a fifth
    of the letters; another alphabet from more than half): ``None`` for text in Latin
    letters, whose language only its words tell. Cheap on ASCII text, so it can look at
    every sentence: a Chinese paragraph in an English document is ``"zh"``.

    >>> script_lang("阿克米机器人公司总部位于柏林。"), script_lang("Acme opened in 北京 in 2011.")
    ('zh', None)
    """
    if text.isascii():  # most text: no letter of another script
        return None
    # only the non-ASCII letters need a look each (a Python loop over every character of
    # every document cost seconds in an incremental run over thousands of them)
    others = [ch for ch in _NOT_ASCII.findall(text) if ch.isalpha()]
    total = len(_ASCII_LETTER.findall(text)) + len(others)
    han = sum(1 for ch in others if is_cjk(ch))
    kana = sum(1 for ch in others if _is_kana(ch))
    hangul = sum(1 for ch in others if _is_hangul(ch))
    east = han + kana + hangul
    if east and east * 5 >= total:
        if hangul > han and hangul >= kana:
            return "ko"
        return "ja" if kana * 10 >= east else "zh"
    alphabets = Counter(lang for ch in others if (lang := _script_lang(ch)) is not None)
    if alphabets:
        lang, count = alphabets.most_common(1)[0]
        if count * 2 > total:
            return lang
    return None


def script_languages(text: str) -> frozenset[str]:
    """Every language :func:`script_lang` could name for some part of ``text``.

    A superset, read from which scripts' letters occur at all: CJK ideographs give
    ``zh``, kana ``ja``, Hangul ``ko``, another alphabet its language. It tells, without
    splitting a document into sentences, whether a model routed by a sentence's script
    can have read any of it.

    >>> sorted(script_languages("Acme opened in 北京 and Москва.")), script_languages("Acme")
    (['ru', 'zh'], frozenset())
    """
    if text.isascii():
        return frozenset()
    found: set[str] = set()
    for ch in set(_NOT_ASCII.findall(text)):
        if is_cjk(ch):
            found.add("zh")
        elif _is_kana(ch):
            found.add("ja")
        elif _is_hangul(ch):
            found.add("ko")
        elif (lang := _script_lang(ch)) is not None:
            found.add(lang)
    return frozenset(found)


_NOT_FOLDED = frozenset(
    [
        "for",  # Swedish "för"
        "fur",  # German "für"
        "uber",  # German "über"
        "e",  # Italian "è", Portuguese "é" ("e-mail")
        "sao",  # Portuguese "são" ("Sao Paulo")
        "fran",  # Swedish "från" (a name)
        "han",  # Finnish "hän" (a name)
        "take",  # Czech "také"
        "in",  # Romanian "în"
        "ca",  # Romanian "că" ("CA", "ca." for circa)
        "meg",  # Hungarian "még" (a name)
        "mar",  # Hungarian "már" ("Mar" for March)
        "coz",  # Czech "což" (English chat for "because")
        "gore",  # Turkish "göre" (a name, a word)
    ]
)
"""Spellings without diacritics that are English words, names or abbreviations: those
words count only with their diacritics."""


_LETTERS_WITHOUT_MARKS = str.maketrans(
    {"ł": "l", "ı": "i", "ø": "o", "æ": "ae", "ß": "ss", "đ": "d", "Đ": "D"}
)
"""Letters Unicode does not decompose into a plain letter and a mark."""


def _fold(word: str) -> str:
    """``word`` as typed without diacritics (ASCII keyboards, URLs, chat).

    >>> _fold("się"), _fold("został"), _fold("için"), _fold("într-o"), _fold("været")
    ('sie', 'zostal', 'icin', 'intr-o', 'vaeret')
    >>> _fold("được"), _fold("Đà Nẵng")
    ('duoc', 'Da Nang')
    """
    plain = unicodedata.normalize("NFKD", word.translate(_LETTERS_WITHOUT_MARKS))
    return "".join(ch for ch in plain if not unicodedata.combining(ch))


def _spellings(words: list[str], *, folded: bool = True) -> frozenset[str]:
    """``words`` and their spellings without diacritics (but those in :data:`_NOT_FOLDED`).

    ``folded=False``: ``words`` only (a language whose plain spellings are listed apart,
    in :data:`_WRITTEN_LOWERCASE`).
    """
    if not folded:
        return frozenset(words)
    return frozenset(words) | {_fold(w) for w in words if _fold(w) not in _NOT_FOLDED}


_WRITTEN_LOWERCASE: dict[str, str] = {
    "vi": "va cua la da de ve nam duoc nhung khong nguoi nhieu trong cac mot voi cung nhu vao "
    "tren thi khi cho theo lai",
}
"""Words that count only written in lowercase: Vietnamese typed without its diacritics
(and "trong", "cho", "khi", "theo", which have none). Most are short syllables that are
names when capitalised ("Cho", "Trong", "Lai", "Nam"), so a name is no evidence. Those
that spell English words ("do", "den", "co", "bi", "rang", "nay", "dang") are left out;
those of other languages' function words ("la", "de", "da", "ve") count for both, so they
never tip a French, Spanish or Turkish text to Vietnamese (ties go to the other)."""


_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: _spellings(words.split(), folded=lang not in _WRITTEN_LOWERCASE)
    for lang, words in {
        "en": "the of and to is was for that with on as by at from his her it are were be "
        "has have had which this an or not he she they their its been will would",
        "de": "der die das und ist nicht mit von den dem des ein eine einer eines auf für "
        "sich auch wurde werden zu im bei nach aus sie er wird hat sind oder als wie über "
        "zum zur vom durch noch",
        "fr": "le la les des du et est une dans pour qui que sur par pas avec au aux ce cette "
        "sont été il elle ne se sa ses ou mais leur",
        "es": "el la los las del y es una de por con para que se su sus fue como al lo más "
        "pero está son ha en",
        "it": "il lo gli di della del delle dei che è un una con non sono nel nella da al alla "
        "si come anche più ma ha",
        "pt": "os da dos das em na que é um uma para com não por foi mais ao seu sua são também o",
        "nl": "het een en van is dat op te met voor zijn niet aan er die werd ook als bij door "
        "naar om maar wordt de",
        "sv": "och är att ett inte för från också hon när där detta denna vara hade skulle "
        "mycket vid av blev efter eller som det med på har var om sina sitt honom henne deras "
        "vilket vilken den",
        "da": "og er det som af på til med ikke har var fra blev efter også hun meget eller "
        "hvor ved om nu ud bliver været havde skal jeg mellem siden hvad denne dette deres den",
        "nb": "og er det som av på til med ikke har var fra ble etter også hun seg mye eller "
        "hvor ved om nå blir vært hadde skal jeg mellom siden hva denne dette deres den",
        "fi": "ja on ei että hän ovat kun mutta myös joka jonka niin kuin olla vuonna jälkeen "
        "sekä mukaan kanssa jossa hänen ollut mitä tämä",
        "pl": "się że nie jest oraz przez dla był była było który która które jego jej tym "
        "także już czy jak przy został została zostały są być tego może tylko jednak "
        "w z na od o ze ale tej też gdy bardzo więc jeszcze będzie roku jestem ich",
        "cs": "je že se jsou jako jeho který která které byl byla bylo také nebo při jejich "
        "jsem není podle již až mezi ze což však roce v z s na od o ale jsme bude když "
        "tak už ještě tento tato jestli proto aby její velmi",
        "sk": "sa je že sú ako jeho ktorý ktorá ktoré bol bola bolo tiež alebo pri ich som nie "
        "podľa už až medzi aj v z s na od o ale ze bude keď tak ešte tento táto "
        "preto aby jej veľmi pretože roku či",
        "ro": "și şi în este pentru fost sunt lui cu nu sau dar această acest că își unei unui "
        "fiind după între avea despre pe prin mai să de la au el o acum foarte iar însă "
        "când unde fără deja",
        "hu": "az és hogy nem egy csak már pedig után vagy amely által között szerint még majd "
        "lett ez azt ezt valamint kell van volt lesz akkor ahol amikor minden "
        "nagyon illetve mert azonban de",
        "tr": "bir bu için ile olarak çok daha olan gibi ancak kadar sonra değil veya ise "
        "tarafından yılında oldu şu olduğu ayrıca ve da de ne en var yok ama çünkü göre "
        "sadece o ki diye idi",
        "id": "dengan untuk dari pada adalah tidak akan juga dalam sebagai telah sudah bahwa "
        "atau mereka karena ini itu ke tahun setelah yaitu serta tersebut merupakan menjadi "
        "namun secara kepada hingga sejak masih bagi di oleh kerana bahawa iaitu daripada",
        "vi": "và của là có được những các một với không này người đã đến từ về như cũng "
        "nhiều sẽ tại năm đó để thì nhưng lại rằng bị vào trên đang",
    }.items()
}
"""Common words of each language, also as typed without diacritics. Those English texts
use much are left out of the others ("a", "in", "per", "son", "as", "do", "no", "at",
"for", "men", "care", "to", "be", "pro", "her"), and so are English names ("Hans", "Meg",
"Dan", "Yang", "Ole", "Jen") and parts of English compounds ("co-founder", "pre-war",
"e-mail"); "is" counts for Dutch and English alike, "on" for Finnish and English. Danish and Norwegian (Bokmål) share many words: their own
("af", "blev" against "av", "ble") tell them apart. Malay is read as Indonesian, its own
spellings ("kerana", "bahawa") counting for ``"id"``: the two share most of their words,
and a shipped model reads neither. Vietnamese words count here with their diacritics only
(every one has some); typed without them, see :data:`_WRITTEN_LOWERCASE`."""

_LANGUAGES_OF: dict[str, tuple[str, ...]] = {
    word: tuple(lang for lang, words in _FUNCTION_WORDS.items() if word in words)
    for word in set().union(*_FUNCTION_WORDS.values())
}
"""The languages each function word counts for."""

_LANGUAGES_OF_LOWERCASE: dict[str, tuple[str, ...]] = {
    **_LANGUAGES_OF,
    **{
        word: (*_LANGUAGES_OF.get(word, ()), lang)
        for lang, words in _WRITTEN_LOWERCASE.items()
        for word in words.split()
    },
}
"""The languages a function word written in lowercase counts for."""

_WORD = re.compile(r"[^\W\d_]+")

_PROSE_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")
"""A whitespace-delimited token of prose: letters, maybe joined by apostrophes or hyphens."""

_EDGE_PUNCTUATION = "\"'([{<\u00ab\u201c\u2018\u00bf\u00a1.,;:!?)]}>\u00bb\u201d\u2019"


_CONTRACTION_END = re.compile(r"['\u2019][^\W\d_]{1,2}(?![^\W\d_])")
"""One or two letters after an apostrophe: "I've", "it's", "Ankara'da"."""


def _runs(text: str) -> Iterator[list[str]]:
    """The words of the prose tokens of ``text``, but the ends of contractions, in runs.

    A run is words with only spaces (or an apostrophe, a hyphen) between them: a
    punctuation mark or a token that is not prose ends one, so "Paix, Rue" are two runs.
    A token with digits or symbols inside (base64, hashes, URLs, code) is not prose: the
    letter runs between its digits are chance strings ("…9de+la/…") that read as another
    language's function words, so a blob pasted into an English document made it "es".
    The letter or two after an apostrophe are a contraction's end (English "'ve", "'s",
    Turkish "'da"), no word of their own: "ve" is Turkish for "and".

    >>> list(_runs("I've seen Ankara'da it's l'entreprise 9de+la/ Rue de la Paix, Lyon"))
    [['I', 'seen', 'Ankara', 'it', 'l', 'entreprise'], ['Rue', 'de', 'la', 'Paix'], ['Lyon']]
    """
    run: list[str] = []
    for token in text.split():
        word = token.strip(_EDGE_PUNCTUATION)
        if word.isalpha():  # most tokens: one word, no regular expression needed
            words = [word]
        elif _PROSE_TOKEN.fullmatch(word):
            cut = _CONTRACTION_END.sub(" ", word) if "'" in word or "\u2019" in word else word
            words = _WORD.findall(cut)
        else:
            if run:
                yield run
                run = []
            continue
        if len(word) == len(token):
            run += words
            continue
        if run and not token.startswith(word):  # punctuation before the word: "(Denmark"
            yield run
            run = []
        run += words
        if not token.endswith(word):  # punctuation after it: "Paix,"
            yield run
            run = []
    if run:
        yield run


_NAME_PARTICLES = frozenset(
    [
        "de",
        "del",
        "della",
        "delle",
        "dei",
        "degli",
        "da",
        "das",
        "do",
        "dos",
        "du",
        "des",
        "la",
        "le",
        "les",
        "los",
        "las",
        "el",
        "van",
        "von",
        "der",
        "den",
        "ter",
        "zu",
    ]
)
"""Lowercase words that join the capitalised words of names: "Rue de la Paix", "Costa del
Sol", "Vincent van Gogh", "Ursula von der Leyen"."""


def _in_name(run: list[str], index: int) -> bool:
    """Whether ``run[index]``, a name particle, joins two capitalised words (through others).

    >>> _in_name(["Hotel", "de", "la", "Paix"], 2), _in_name(["nord", "de", "la", "ville"], 1)
    (True, False)
    """
    before = index - 1
    while before >= 0 and run[before] in _NAME_PARTICLES:
        before -= 1
    after = index + 1
    while after < len(run) and run[after] in _NAME_PARTICLES:
        after += 1
    return before >= 0 and after < len(run) and run[before][0].isupper() and run[after][0].isupper()


def _latin_lang(text: str) -> str:
    """The language of a text in Latin letters, by its function words (default ``"en"``).

    A language other than English needs at least three of its function words and more than
    twice as many as English has (names such as "Banco de la Nación" in English text, or
    an English quote in a German one, do not decide). Ties among the others go to the
    first in ``_FUNCTION_WORDS`` order. Vietnamese needs one word only where its own letters
    are many (:func:`_vietnamese_letters`): "Hà Nội là thủ đô" is Vietnamese, an English
    sentence naming "Nguyễn Phú Trọng" is not. A capital letter alone is an initial, not a
    word (Polish "w", Czech "v"), and a particle between capitalised words is part of a name
    ("Rue de la Paix", :func:`_in_name`): a short English list of French or Spanish place
    names read as Spanish for its "de" and "la".

    >>> _latin_lang("Le groupe a été fondé à Lyon par Marie Dupont et il est dirigé par elle.")
    'fr'
    >>> _latin_lang("The Banco de la Nación Argentina is the largest bank of the country.")
    'en'
    >>> _latin_lang("Företaget grundades i Göteborg och det är fortfarande kvar där.")
    'sv'
    >>> _latin_lang("Björn Borg won in Göteborg, then flew to Łódź to meet Ştefan Popescu.")
    'en'
    >>> _latin_lang("Wczoraj prezydent Polski spotkal sie z premierem w Warszawie.")
    'pl'
    >>> _latin_lang("The speakers were Adam W. Nowak, Ewa Z. Lis and Jan Z. Kot.")
    'en'
    >>> _latin_lang("Hotel de la Paix, Rue de la Paix and Avenue des Champs in Paris")
    'en'
    >>> _latin_lang("Hà Nội là thủ đô của Việt Nam."), _latin_lang("Ha Noi la thu do cua Viet Nam.")
    ('vi', 'en')
    """
    if not text.isascii():  # an accent typed as its own mark: the words are listed composed
        text = unicodedata.normalize("NFC", text)
    counts = dict.fromkeys(_FUNCTION_WORDS, 0)
    for run in _runs(text):
        for index, word in enumerate(run):
            langs = _LANGUAGES_OF_LOWERCASE.get(word.lower())
            if langs is None:  # most words: no function word
                continue
            if len(word) == 1 and word.isupper():  # an initial ("George W. Bush"), not "w"
                continue
            if word in _NAME_PARTICLES and _in_name(run, index):  # "Rue de la Paix"
                continue
            if not word.islower():  # "Cho", "Trong": names, not Vietnamese typed plain
                langs = _LANGUAGES_OF.get(word.lower(), ())
            for lang in langs:
                counts[lang] += 1
    english = counts.pop("en")
    lang = max(counts, key=lambda code: counts[code])
    needed = 1 if lang == "vi" and counts[lang] < 3 and _vietnamese_letters(text) else 3
    return lang if counts[lang] >= needed and counts[lang] > 2 * english else "en"


_VIETNAMESE_LETTER = re.compile("[ơưđĩũƠƯĐĨŨ\u1ea0-\u1ef9]")
"""Letters of Vietnamese that other languages of :data:`_FUNCTION_WORDS` lack (ơ, ư, đ and
the vowels with a dot below or a hook above, ạ ả ấ ầ ẩ ẫ ậ ... ỹ)."""
_LETTER = re.compile(r"[^\W\d_]")


def _vietnamese_letters(text: str) -> bool:
    """Whether Vietnamese's own letters are a twelfth of those of ``text`` or more.

    Vietnamese prose has them in about a tenth to more than a quarter of its letters; an
    English sentence naming "Phạm Minh Chính" in "Đà Nẵng" fewer, and no Vietnamese word.

    >>> _vietnamese_letters("Hà Nội là thủ đô"), _vietnamese_letters("Luka Modrić met Đoković")
    (True, False)
    """
    if text.isascii():
        return False
    return len(_VIETNAMESE_LETTER.findall(text)) * 12 >= len(_LETTER.findall(text))


_NOT_ASCII = re.compile(r"[^\x00-\x7f]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def model_languages(manifest: Mapping[str, Any], model: str) -> frozenset[str] | None:
    """The languages a model declares in its manifest (``"languages": ["en"]``).

    Returns ``None`` (any language) when the manifest has no ``languages``, as for a
    model from the Hugging Face Hub. Codes are written as :func:`language_code` writes them.

    Raises:
        ConfigError: ``languages`` is not a non-empty list of strings (names ``model``).

    >>> sorted(model_languages({"languages": ["en", "DE", "zh_TW"]}, "m"))
    ['de', 'en', 'zh-tw']
    >>> model_languages({}, "m") is None
    True
    """
    found = manifest.get("languages")
    if found is None:
        return None
    if not isinstance(found, list) or not found or not all(isinstance(x, str) for x in found):
        raise ConfigError(
            f"model {model}: 'languages' in its kgbuild_model.json must be a non-empty list of "
            f'language codes such as ["en"], not {found!r}'
        )
    return frozenset(language_code(code) for code in found)


def language_code(lang: str) -> str:
    """A language code as codes are compared: lowercased, ``_`` written ``-``.

    >>> language_code(" zh_TW"), language_code("zh-Hant-TW"), language_code("EN")
    ('zh-tw', 'zh-hant-tw', 'en')
    """
    return lang.strip().lower().replace("_", "-")


def base_language(lang: str) -> str:
    """The language of a code without its region or script, lowercased.

    >>> base_language("zh-Hans-CN"), base_language("en_US"), base_language("ZH")
    ('zh', 'en', 'zh')
    """
    return language_code(lang).split("-")[0]


def language_lookup(lang: str) -> tuple[str, ...]:
    """The codes that name ``lang``, most specific first: it, then less a subtag at a time.

    A language listed for a model (its manifest's ``languages``, a key of
    ``ner.language_models``) reads the codes that start with it: "zh" reads "zh-TW", and
    "zh-TW" reads "zh-TW" but neither "zh" nor "zh-CN".

    >>> language_lookup("zh-Hant_TW"), language_lookup("en")
    (('zh-hant-tw', 'zh-hant', 'zh'), ('en',))
    """
    parts = language_code(lang).split("-")
    return tuple("-".join(parts[:end]) for end in range(len(parts), 0, -1))


def covers(languages: frozenset[str] | None, lang: str) -> bool:
    """Tell whether a model of ``languages`` (``None``: any) reads documents in ``lang``.

    A regional code is covered by its language ("en-GB" and "en_US" by "en"), a language
    not by one of its regions ("zh" not by "zh-TW"): see :func:`language_lookup`.

    >>> covers(frozenset({"en"}), "zh"), covers(frozenset({"en"}), "en-GB"), covers(None, "zh")
    (False, True, True)
    >>> covers(frozenset({"en"}), "en_US"), covers(frozenset({"zh-tw"}), "zh_TW")
    (True, True)
    >>> covers(frozenset({"zh-tw"}), "zh"), covers(frozenset({"zh-tw"}), "zh-CN")
    (False, False)
    """
    if languages is None:
        return True
    return any(code in languages for code in language_lookup(lang))
