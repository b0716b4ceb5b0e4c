"""Languages: which a document is in, and which a model reads.

Detection goes as far as chunking needs (English vs Chinese); a model declares the
languages it reads in its manifest (``"languages": ["en"]``), and a model that does
not is taken to read any language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kgbuild.errors import ConfigError

__all__ = ["covers", "detect_lang", "is_cjk", "model_languages"]


def is_cjk(char: str) -> bool:
    """True for a CJK ideograph (the unified block and its first extension)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def detect_lang(text: str, *, sample: int = 4000) -> str:
    """Return ``"zh"`` when CJK ideographs make up a fifth of the letters, else ``"en"``.

    >>> detect_lang("Acme was founded in Berlin.")
    'en'
    >>> detect_lang("阿克米机器人公司总部位于柏林。")
    'zh'
    """
    letters = [ch for ch in text[:sample] if ch.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for ch in letters if is_cjk(ch))
    return "zh" if cjk * 5 >= len(letters) else "en"


def model_languages(manifest: Mapping[str, Any], model: str) -> frozenset[str] | None:
    """The languages a model declares in its manifest (``"languages": ["en"]``).

    Returns ``None`` (any language) when the manifest has no ``languages``, as for a
    model from the Hugging Face Hub. Codes are lowercased.

    Raises:
        ConfigError: ``languages`` is not a non-empty list of strings (names ``model``).

    >>> sorted(model_languages({"languages": ["en", "DE"]}, "m"))
    ['de', 'en']
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
    return frozenset(code.lower() for code in found)


def covers(languages: frozenset[str] | None, lang: str) -> bool:
    """Tell whether a model of ``languages`` (``None``: any) reads documents in ``lang``.

    A regional code matches its language ("en-GB" is covered by "en").

    >>> covers(frozenset({"en"}), "zh"), covers(frozenset({"en"}), "en-GB"), covers(None, "zh")
    (False, True, True)
    """
    if languages is None:
        return True
    code = lang.lower()
    return code in languages or code.split("-")[0] in languages
