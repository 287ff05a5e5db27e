"""SQL API bearer tokens: shown once, stored as a SHA-256.

A token is 32 random bytes (``clk_`` + URL-safe base64), so a plain SHA-256 is
enough to make the stored copy useless to whoever reads the metadata
database (no salt or slow hash is needed for a value nobody can guess). The
first characters are kept to tell tokens apart in ``civiclake access show``.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from civiclake.metadata import MetadataStore

PREFIX = "clk_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(store: MetadataStore, user: str) -> tuple[int, str]:
    """A new token for ``user``: (id, the token — the only time it is seen)."""
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = store.add_token(user, token_hash(token), token[: len(PREFIX) + 6])
    return token_id, token


def authenticate(store: MetadataStore, token: str) -> str | None:
    """The user owning ``token`` (None when unknown or revoked)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    return store.token_user(token_hash(token))
