"""`mintrace licences`: the export-licence ledger."""

import json
from pathlib import Path

import typer

from mintrace import clients

from .context import (CHECK_FAILED, database, err, fail, print_rows, progress_bar, read_input,
                      run, started)

app = typer.Typer(help="Export licences: balances, history, events.", no_args_is_help=True)
AUDIT_COLUMNS = ["licence_number", "status", "max_quantity_kg", "matched_kg", "remaining_kg",
                 "overdrawn_kg", "matched_count", "cancelled_count", "agrees"]


@app.command("audit")
def audit(licence: str = typer.Option(None, help="Only this licence number"),
          as_json: bool = typer.Option(False, "--json", help="One JSON object a line")) -> None:
    """Each licence's stored balance beside the one derived from its matched, not-cancelled
    exports. Exits 1 if any licence disagrees."""

    async def go():
        async with database() as conn:
            return await conn.fetch(
                "SELECT * FROM licence_balances WHERE $1::text IS NULL OR licence_number = $1 "
                "ORDER BY licence_number", licence)

    rows = [dict(r) for r in run(go(), "licences audit")]
    if licence and not rows:
        fail(f"no licence {licence}")
    for r in rows:
        r.update({c: str(r[c]) for c in AUDIT_COLUMNS if c.endswith("_kg")})
    print_rows(rows, AUDIT_COLUMNS, as_json, title="licence balances",
               style={"agrees": lambda ok: "yes" if ok else "[red]NO[/red]"})
    bad = [r["licence_number"] for r in rows if not r["agrees"]]
    if bad:
        err.print(f"[red]{len(bad)} licence(s) disagree:[/red] {', '.join(bad)}")
        raise typer.Exit(CHECK_FAILED)


@app.command("history")
def history(licence: str = typer.Argument(..., help="Licence number")) -> None:
    """Every change of one licence, oldest first (one JSON object a line), with the row as it
    stood after it."""

    async def go():
        async with database() as conn:
            return await conn.fetch("SELECT * FROM licence_history WHERE licence_number = $1 "
                                    "ORDER BY id", licence)

    rows = run(go(), "licences history")
    if not rows:
        fail(f"no history for licence {licence}")
    for r in rows:
        print(json.dumps({"at": r["at"].isoformat(), "change": r["change"], "source": r["source"],
                          "snapshot": r["snapshot"]}, default=str))


@app.command("publish-events")
def publish_events(file: Path = typer.Argument(..., help="LicenceEvent objects: a JSON array or "
                                                         "NDJSON; '-' for standard input")) -> None:
    """Publish licensing-authority events on licence.events (keyed by licence, so each licence's
    events are applied in the order given; each event_id is applied once, so publishing a file
    again changes nothing)."""
    from pydantic import ValidationError

    from mintrace_common import topics
    from mintrace_common.models import LicenceEvent

    text = read_input(file)
    try:
        data = json.loads(text) if text.lstrip().startswith("[") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
        events = [LicenceEvent.model_validate(e) for e in data]
    except (ValueError, ValidationError) as exc:
        fail(f"{file} does not hold licence events: {exc}")

    async def go():
        async with started(clients.producer()) as producer:
            with progress_bar() as bar:
                task = bar.add_task(topics.LICENCE_EVENTS.name, total=len(events))
                for e in events:
                    await producer.send_and_wait(topics.LICENCE_EVENTS.name,
                                                 e.model_dump_json().encode(),
                                                 key=e.licence_number.encode())
                    bar.advance(task)

    run(go(), "licences publish-events")
    err.print(f"published {len(events)} licence event(s) on {topics.LICENCE_EVENTS.name}")
