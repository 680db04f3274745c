"""API keys: random, shown once, stored as SHA-256 (fit for 256-bit random keys at request rate;
slow password hashing buys nothing for keys no one can guess)."""

import hashlib
import secrets


def new_key(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def issue(conn, kind: str, subject: str) -> str:
    key = new_key("mtp" if kind == "producer" else "mts")
    await conn.execute("INSERT INTO api_keys (key_hash, kind, subject) VALUES ($1, $2, $3)",
                       hash_key(key), kind, subject)
    return key


async def revoke(conn, kind: str, subject: str) -> int:
    """Revoke every live key of the subject; returns how many."""
    r = await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE kind = $1 AND subject = $2 "
                           "AND revoked_at IS NULL", kind, subject)
    return int(r.split()[-1])


async def lookup(conn, key: str) -> tuple[str, str] | None:
    """(kind, subject) of a live key, or None."""
    row = await conn.fetchrow("SELECT kind, subject FROM api_keys WHERE key_hash = $1 "
                              "AND revoked_at IS NULL", hash_key(key))
    return (row["kind"], row["subject"]) if row else None
