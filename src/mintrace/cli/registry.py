"""`mintrace registry`: reference data (SPEC §3)."""

from pathlib import Path

import typer

from .context import database, err, fail, progress_bar, read_input, run

app = typer.Typer(help="Reference data: producers, facilities, licences, watchlist, prices.",
                  no_args_is_help=True)


@app.command("load")
def load(file: Path = typer.Argument(..., help="Registry JSON document (SPEC §3); '-' for "
                                               "standard input")) -> None:
    """Upsert a registry document in one transaction (idempotent): producers, facilities,
    licences, watchlist, reference_prices, fx_rates, opening_stocks. An unknown top-level key or
    an invalid entry loads nothing."""
    from mintrace_common import registry

    try:
        doc = registry.parse(read_input(file))
    except registry.RegistryError as exc:
        fail(f"{file} is not a valid registry document, nothing loaded: {exc}")
    total = sum(len(v) for v in doc.model_dump().values() if isinstance(v, list))

    async def go():
        async with database() as conn:
            with progress_bar() as bar:
                task = bar.add_task("registry load", total=total)
                return await registry.load(conn, doc, source=f"file:{file}",
                                           progress=lambda _list, n: bar.advance(task, n))

    counts = run(go(), "registry load")
    err.print(" ".join(f"{k}={v}" for k, v in counts.items()))


@app.command("demo")
def demo(out: Path = typer.Option(None, help="Write here instead of standard output")) -> None:
    """Print the demo registry document (a starting point for a real one)."""
    from mintrace import demo as demo_data

    text = demo_data.registry().model_dump_json(indent=2)
    if out:
        out.write_text(text)
    else:
        print(text)
