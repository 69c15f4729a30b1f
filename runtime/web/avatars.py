"""The letters shown in a user's avatar, worked out from their display name."""

from __future__ import annotations

import re
import unicodedata

# A bracketed remark such as "(Pre-sales)" or "（售前）" says nothing about the person.
_BRACKETED = re.compile(r"[(\[{（【［｛〔《<][^)\]}）】］｝〕》>]*[)\]}）】］｝〕》>]?")
_LETTER_RUN = re.compile(r"[^\W\d_]+")


def _is_wide(char: str) -> bool:
    """Chinese, Japanese and Korean characters (each one is a syllable, not a letter)."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def initials(name: str | None) -> str:
    """``"Sarah Liu 刘芳 (Pre-sales)"`` -> ``"SL"``, ``"刘芳"`` -> ``"刘"``, an e-mail -> its
    first letters; punctuation, digits and bracketed remarks never show."""
    text = _BRACKETED.sub(" ", name or "").strip()
    if "@" in text and " " not in text:
        text = text.split("@", 1)[0].replace(".", " ").replace("_", " ")
    words = _LETTER_RUN.findall(text)
    latin = [w for w in words if not _is_wide(w[0])]
    if len(latin) >= 2:
        return (latin[0][0] + latin[-1][0]).upper()
    if latin:
        return latin[0][0].upper()
    wide = [w for w in words if _is_wide(w[0])]
    if wide:
        return wide[0][0]  # the family name comes first in Chinese names
    return "?"
