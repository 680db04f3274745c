"""API keys: random, shown once, stored as SHA-256 (fit for 256-bit random keys at request rate;
slow password hashing buys nothing for keys no one can guess)."""

import hashlib
import secrets


def new_key(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def issue(conn, kind: str, subject: str, name: str | None = None) -> str:
    """A new key of `subject`; a supervisor key names the person (`name`) it is issued to."""
    key = new_key("mtp" if kind == "producer" else "mts")
    await conn.execute("INSERT INTO api_keys (key_hash, kind, subject, name) "
                       "VALUES ($1, $2, $3, $4)", hash_key(key), kind, subject, name)
    return key


async def revoke(conn, kind: str, subject: str) -> int:
    """Revoke every live key of the subject; returns how many."""
    r = await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE kind = $1 AND subject = $2 "
                           "AND revoked_at IS NULL", kind, subject)
    return int(r.split()[-1])


async def lookup(conn, key: str) -> tuple[str, str] | None:
    """(kind, subject) of a live key, or None."""
    found = await holder(conn, key)
    return found[:2] if found else None


async def holder(conn, key: str) -> tuple[str, str, str] | None:
    """(kind, subject, name) of a live key, or None; a key issued without a name is named after
    its subject ("jiangxi key")."""
    row = await conn.fetchrow("SELECT kind, subject, name FROM api_keys WHERE key_hash = $1 "
                              "AND revoked_at IS NULL", hash_key(key))
    if row is None:
        return None
    return row["kind"], row["subject"], row["name"] or f"{row['subject']} key"
