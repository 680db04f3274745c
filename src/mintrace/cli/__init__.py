"""`mintrace`: run the dev stack and operate the system. One module per command group; what they
share (errors, exit codes, connections) is `context`."""

import logging

import typer

from . import (db, dev, dlq, docs, keys, licences, registry, simulate, supervise, topics,
               webhooks)

app = typer.Typer(help="mintrace — national tracking of critical-mineral transactions.\n\n"
                       "Exit codes: 0 done, 1 a check failed, 2 usage or input refused, "
                       "3 database, broker or service unreachable.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def _quiet_clients() -> None:
    # aiokafka logs each failed connection attempt; the command reports the failure itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


app.command("dev")(dev.dev)
app.command("simulate")(simulate.simulate)
for name, group in (("db", db), ("topics", topics), ("registry", registry), ("keys", keys),
                    ("licences", licences), ("dlq", dlq), ("supervise", supervise),
                    ("docs", docs), ("webhooks", webhooks)):
    app.add_typer(group.app, name=name)


def main() -> None:
    app()
