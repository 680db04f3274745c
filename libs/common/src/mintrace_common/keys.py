"""API keys: random, shown once, stored as SHA-256 (fit for 256-bit random keys at request rate;
slow password hashing buys nothing for keys no one can guess)."""

import hashlib
import secrets

import asyncpg


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


LAST_USED_EVERY_S = 60


async def lookup(conn, key: str) -> tuple[str, str] | None:
    """(kind, subject) of a live key, or None (see `holder`)."""
    found = await holder(conn, key)
    return found[:2] if found else None


async def holder(conn, key: str) -> tuple[str, str, str] | None:
    """(kind, subject, name) of a live key, or None; a key issued without a name is named after
    its subject ("jiangxi key"). Notes when the key was used (at most once every
    LAST_USED_EVERY_S; best effort: a role that may not write it still authenticates)."""
    row = await conn.fetchrow("SELECT kind, subject, name, last_used_at IS NULL OR last_used_at < "
                              "now() - make_interval(secs => $2) AS stale FROM api_keys "
                              "WHERE key_hash = $1 AND revoked_at IS NULL",
                              hash_key(key), LAST_USED_EVERY_S)
    if row is None:
        return None
    if row["stale"]:
        try:
            await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1",
                               hash_key(key))
        except asyncpg.PostgresError:
            pass
    return row["kind"], row["subject"], row["name"] or f"{row['subject']} key"


async def revoke_key(conn, key: str) -> int:
    """Revoke one key (given whole); returns 1, or 0 if it was not live."""
    r = await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1 "
                           "AND revoked_at IS NULL", hash_key(key.strip()))
    return int(r.split()[-1])


async def revoke_id(conn, key_id: str) -> int:
    """Revoke the live key whose hash starts with `key_id` (as `keys list` shows it, at least 8
    characters); returns how many (0, or 1: a prefix that matches several is refused)."""
    if len(key_id) < 8:
        raise ValueError("a key id has at least 8 characters")
    async with conn.transaction():
        rows = await conn.fetch("SELECT key_hash FROM api_keys WHERE key_hash LIKE $1 || '%' "
                                "AND revoked_at IS NULL FOR UPDATE", key_id.lower())
        if len(rows) > 1:
            raise ValueError(f"{len(rows)} keys start with {key_id}: give more characters")
        for r in rows:
            await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1",
                               r["key_hash"])
    return len(rows)


async def listing(conn, kind: str | None = None, subject: str | None = None,
                  revoked: bool = True) -> list[dict]:
    """Every key (never the key itself): id (hash prefix), kind, holder, created, last used,
    revoked; newest first."""
    rows = await conn.fetch(
        "SELECT * FROM api_keys WHERE ($1::text IS NULL OR kind = $1) AND "
        "($2::text IS NULL OR subject = $2) AND ($3 OR revoked_at IS NULL) "
        "ORDER BY created_at DESC, key_hash", kind, subject, revoked)
    return [{"id": r["key_hash"][:12], "kind": r["kind"], "holder": r["subject"],
             "name": dict(r).get("name"), "created": r["created_at"],
             "last_used": r["last_used_at"], "revoked": r["revoked_at"]} for r in rows]
