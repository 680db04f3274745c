"""`mintrace supervise`: what a supervisor sees — a province's queue live (Kafka, as the
province's KafkaUser would read it) and its rollup (the supervision API, with a supervisor key)."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import typer

from mintrace import clients
from mintrace_common.provinces import BY_SLUG, NATIONAL

from .context import UNREACHABLE, fail, print_rows, run

app = typer.Typer(help="Supervisor views of a province (or the whole country).",
                  no_args_is_help=True)
PROVINCE_HELP = "Province slug (e.g. jiangxi, inner-mongolia) or 'national'"
CHINA = __import__("datetime").timezone(timedelta(hours=8))


def _province(slug: str) -> str:
    if slug != NATIONAL and slug not in BY_SLUG:
        fail(f"unknown province {slug!r}; one of: national, {', '.join(BY_SLUG)}")
    return slug


@app.command("tail")
def tail(province: str = typer.Option(..., help=PROVINCE_HELP),
         since: str = typer.Option("1h", help="Start this far back: 30m, 1h, 2d"),
         follow: bool = typer.Option(True, "--follow/--no-follow",
                                     help="Keep watching (default) or stop at the end"),
         rows: int = typer.Option(20, min=1, help="Reports shown")) -> None:
    """Live view of a province's queue (supervision.<slug>) and its alerts."""
    from mintrace import supervise

    slug = _province(province)
    try:
        back = supervise.parse_since(since)
    except ValueError as exc:
        fail(str(exc))
    bootstrap = clients.settings().kafka_bootstrap_servers
    try:
        run(supervise.tail(bootstrap, slug, back, follow, rows), "supervise tail")
    except RuntimeError as exc:
        fail(str(exc), UNREACHABLE)


async def _rollup_pages(url: str, key: str, slug: str, since: str) -> list[dict]:
    import httpx

    items: list[dict] = []
    cursor = None
    async with httpx.AsyncClient(base_url=url, timeout=clients.CONNECT_TIMEOUT_S * 3,
                                 headers={"Authorization": f"Bearer {key}"}) as http:
        while True:
            params = {"since": since, "limit": 500, **({"cursor": cursor} if cursor else {})}
            resp = await http.get(f"/v1/supervision/{slug}/rollup", params=params)
            if resp.status_code in (401, 403):
                fail(f"the supervision API refused the key ({resp.status_code}: "
                     f"{resp.json().get('detail')})", UNREACHABLE)
            resp.raise_for_status()
            page = resp.json()
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def summarise(items: list[dict]) -> list[dict]:
    """Daily rollup rows summed per material × destination, largest volume first."""
    sums: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"kg": 0.0, "value_usd": 0.0, "reports": 0, "non_usd_reports": 0})
    for it in items:
        s = sums[it["material"], it["destination_country"]]
        s["kg"] += float(it["quantity_kg"])
        s["value_usd"] += float(it["value_usd"] or 0)
        s["reports"] += int(it["report_count"])
        s["non_usd_reports"] += int(it["non_usd_count"])
    rows = [{"material": m, "destination": d, **v} for (m, d), v in sums.items()]
    return sorted(rows, key=lambda r: (-r["kg"], r["material"], r["destination"]))


@app.command("rollup")
def rollup(province: str = typer.Option(..., help=PROVINCE_HELP),
           days: int = typer.Option(7, min=1, max=3660, help="Days back, today included (CST)"),
           key: str = typer.Option(None, envvar="MINTRACE_SUPERVISOR_KEY",
                                   help="Supervisor key for this province or national "
                                        "(`mintrace keys issue --supervisor SLUG`)"),
           url: str = typer.Option(None, help="Supervision API (default: the dev stack's, or "
                                              "MINTRACE_SUPERVISION_URL, or :8081)"),
           as_json: bool = typer.Option(False, "--json", help="One JSON object a line")) -> None:
    """Volumes by material and destination over the last days, read through the supervision API
    with a supervisor key (never with database credentials)."""
    slug = _province(province)
    if not key:
        fail("give a supervisor key: --key or MINTRACE_SUPERVISOR_KEY")
    since = (datetime.now(UTC).astimezone(CHINA).date() - timedelta(days=days - 1)).isoformat()
    base = url or clients.coordinates()["supervision_url"]
    rows = summarise(run(_rollup_pages(base, key, slug, since), f"supervision API at {base}"))
    for r in rows:
        r["kg"], r["value_usd"] = f"{r['kg']:,.3f}", f"{r['value_usd']:,.2f}"
    if not rows and not as_json:
        print(f"no routed reports for {slug} in the last {days} day(s)")
        return
    print_rows(rows, ["material", "destination", "kg", "value_usd", "reports", "non_usd_reports"],
               as_json, title=f"{slug}: last {days} day(s)")
