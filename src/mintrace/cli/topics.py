"""`mintrace topics`: the topic registry on the broker."""

import typer

from .context import err, print_rows, run, settings

app = typer.Typer(help="Kafka topics.", no_args_is_help=True)


@app.command("create")
def create() -> None:
    """Create every topic of the registry, DLQs included, that does not exist yet."""
    from mintrace_common.topics import all_topic_names

    from mintrace.devstack import create_topics

    n = run(create_topics(settings()), "topics create")
    err.print(f"{n} topic(s) created, {len(all_topic_names())} in the registry")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="One JSON object a line")) -> None:
    """The topic registry: name, partitions, message, writer, readers."""
    from mintrace_common.topics import TOPICS

    rows = [{"name": t.name, "partitions": t.partitions, "message": t.model.__name__,
             "writer": t.writer, "readers": ", ".join(t.readers)} for t in TOPICS]
    print_rows(rows, ["name", "partitions", "message", "writer", "readers"], as_json)
