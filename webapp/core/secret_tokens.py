"""Secret tokens: made here, and kept in the database only as their SHA-256.

Set password links, sessions, API tokens, calendar feeds and recovery codes all store digest(token),
never the token, so a copy of the database (a backup, a read-only leak) holds nothing that signs in
or opens a feed. A token is looked up by its digest.
"""
import hashlib
import secrets


def new_token():
    """A random token for a link, cookie or bearer header (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def digest(token):
    """The SHA-256 (64 hex digits) the database keeps for a token."""
    # "surrogatepass": a lone surrogate a request managed to carry hashes (and matches nothing)
    # instead of raising. For every ASCII token the bytes, so the digests, are plain UTF-8's.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
