"""Webhooks through the real stack: registered with the CLI, an alert raised by a report reaches a
local HTTP server signed, is retried after a failure, and every attempt is in the delivery log."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from test_cases_api import named_keys, raised_alert
from test_supervision_api import unlicensed_export

from mintrace_common import db
from mintrace_supervision.webhooks import SIGNATURE, verify

pytestmark = pytest.mark.e2e


class Receiver(ThreadingHTTPServer):
    """Records every POST; answers 503 to the first delivery of each alert, 200 afterwards."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, dict]] = []
        self.refused: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append((self.path, body, headers))
                alert_id = json.loads(body)["alert"]["alert_id"]
                status = 200 if alert_id in receiver.refused else 503
                receiver.refused.add(alert_id)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def cli(stack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mintrace.cli", "webhooks", *args],
                          env={**os.environ, "DATABASE_URL": stack.database_url, "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_alerts_reach_the_provinces_webhook_signed_and_retried(stack, producer_keys):
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    secret = secrets.token_hex(16)
    out = cli(stack, "add", "--province", "jiangxi", "--url", f"{receiver.url}/jx",
              "--min-severity", "high", "--secret", secret)
    hook = int(out.split()[1])
    other = int(cli(stack, "add", "--province", "hunan", "--url", f"{receiver.url}/hn",
                    "--min-severity", "low").split()[1])
    assert f"{receiver.url}/jx" in cli(stack, "list")
    try:
        alert = await raised_alert(stack, producer_keys, unlicensed_export(secrets.token_hex(4)))
        aid = alert["alert_id"]

        def mine():
            return [(p, b, h) for p, b, h in receiver.received
                    if json.loads(b)["alert"]["alert_id"] == aid]

        for _ in range(240):
            if len(mine()) >= 2:
                break
            await asyncio.sleep(0.25)
        got = mine()
        assert len(got) >= 2, got   # refused once, delivered on a retry
        for path, body, headers in got:
            assert path == "/jx"
            assert verify(secret, body, headers[SIGNATURE.lower()])
            assert headers["content-type"] == "application/json"
            assert json.loads(body)["alert"] == {k: alert[k] for k in alert if k != "case"}
        conn = await db.connect(stack.database_url)
        try:
            for _ in range(40):  # marked once the receiver's 200 is in
                delivered = await conn.fetchval("SELECT status FROM webhook_deliveries WHERE "
                                                "webhook_id = $1 AND alert_id = $2", hook, aid)
                if delivered == "delivered":
                    break
                await asyncio.sleep(0.25)
            attempts = await conn.fetch("SELECT http_status FROM webhook_attempts WHERE "
                                        "webhook_id = $1 AND alert_id = $2 ORDER BY id", hook, aid)
            assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE "
                                       "webhook_id = $1 AND alert_id = $2", other, aid) == 0
        finally:
            await conn.close()
        assert [a["http_status"] for a in attempts][:2] == [503, 200]
        assert delivered == "delivered"
        async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
            seen = (await api.get("/v1/supervision/jiangxi/webhooks",
                                  headers=(await named_keys(stack.database_url,
                                                            li=("jiangxi", "Li Wei")))["li"]
                                  )).json()
        assert hook in {h["id"] for h in seen["webhooks"]}
        assert other not in {h["id"] for h in seen["webhooks"]}
        assert {d["http_status"] for d in seen["deliveries"] if d["alert_id"] == aid} >= {503, 200}
    finally:
        cli(stack, "remove", str(hook))
        cli(stack, "remove", str(other))
        receiver.shutdown()
    assert f"{receiver.url}/jx" not in cli(stack, "list")
