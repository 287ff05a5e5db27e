"""Closest-match suggestions for error messages ("did you mean `refined`?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, or None when nothing is close."""
    options = [str(c) for c in candidates]
    matches = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if not matches:
        lowered = {o.lower(): o for o in options}
        matches = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[matches[0]] if matches else None
    return matches[0]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean `{match}`?)" if match else ""
