"""Language detection, only as much as chunking needs (English vs Chinese)."""

from __future__ import annotations

__all__ = ["detect_lang", "is_cjk"]


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
