"""`mintrace docs`: generated documentation."""

import time
from pathlib import Path

import typer

from .context import err

app = typer.Typer(help="Generated documentation.", no_args_is_help=True)


@app.command("asyncapi")
def asyncapi(out: Path = typer.Option(Path("asyncapi.json"), help="Where to write ('-' = "
                                                                   "standard output)")) -> None:
    """Write the AsyncAPI document (what `faststream docs gen` produces, for all services)."""
    import json

    from mintrace.supervise import asyncapi_document

    started = time.monotonic()
    text = json.dumps(asyncapi_document(), indent=2)
    if str(out) == "-":
        print(text)
    else:
        out.write_text(text)
        err.print(f"wrote {out} in {time.monotonic() - started:.1f}s")
