"""`mintrace dlq`: dead letters — messages a consumer could never process (`<topic>.dlq`)."""

import json

import typer

from mintrace import clients

from .context import err, fail, print_rows, progress_bar, run, started

app = typer.Typer(help="Dead letters: list, inspect and replay <topic>.dlq.", no_args_is_help=True)
REPLAY_GROUP = "mintrace-dlq-replay"
REPLAYED_HEADER = "mintrace-replayed-from"


def dlq_topics() -> dict[str, str]:
    """source topic -> its DLQ, for every registry topic that has one."""
    from mintrace_common.topics import TOPICS

    return {t.name: t.dlq for t in TOPICS if t.has_dlq}


def _dlq_of(topic: str) -> str:
    known = dlq_topics()
    source = topic.removesuffix(".dlq")
    if source not in known:
        fail(f"{topic!r} has no dead-letter topic; one of: {', '.join(known)}")
    return known[source]


async def _partitions(consumer, topic: str):
    from aiokafka import TopicPartition

    await consumer.topics()
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


async def _counts(names: list[str]) -> list[dict]:
    async with started(clients.consumer(group_id=REPLAY_GROUP)) as consumer:
        rows = []
        for name in names:
            parts = await _partitions(consumer, name)
            if not parts:
                rows.append({"topic": name, "letters": None, "replayed": None, "pending": None})
                continue
            first = await consumer.beginning_offsets(parts)
            ends = await consumer.end_offsets(parts)
            committed = {tp: await consumer.committed(tp) for tp in parts}
            done = sum(max(0, (committed[tp] or first[tp]) - first[tp]) for tp in parts)
            total = sum(ends[tp] - first[tp] for tp in parts)
            rows.append({"topic": name, "letters": total, "replayed": done,
                         "pending": total - done})
        return rows


@app.command("list")
def list_(topic: str = typer.Argument(None, help="One source topic (or its .dlq); default all"),
          as_json: bool = typer.Option(False, "--json", help="One JSON object a line")) -> None:
    """Dead letters per DLQ: held, already replayed, pending replay."""
    names = [_dlq_of(topic)] if topic else list(dlq_topics().values())
    rows = run(_counts(names), "dlq list")
    print_rows(rows, ["topic", "letters", "replayed", "pending"], as_json, title="dead letters")


async def _letters(consumer, dlq: str, limit: int | None, from_committed: bool):
    """(partition, offset, DeadLetter) from the start (or the replay group's position) up to the
    end offsets of now; `consumer` is assigned the DLQ's partitions."""
    from mintrace_common.models import DeadLetter

    parts = await _partitions(consumer, dlq)
    if not parts:
        fail(f"no topic {dlq} on {clients.settings().kafka_bootstrap_servers}")
    consumer.assign(parts)
    ends = await consumer.end_offsets(parts)
    for tp in parts:
        committed = await consumer.committed(tp) if from_committed else None
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
    letters = []
    while any([await consumer.position(tp) < ends[tp] for tp in parts]):
        batch = await consumer.getmany(*parts, timeout_ms=1000)
        for tp, records in batch.items():
            letters.extend((tp, r.offset, DeadLetter.model_validate_json(r.value))
                           for r in records if r.offset < ends[tp])
        if limit is not None and len(letters) >= limit:
            break
    return letters[:limit] if limit is not None else letters


async def _read(dlq: str, limit: int | None):
    async with started(clients.consumer(group_id=REPLAY_GROUP)) as consumer:
        return await _letters(consumer, dlq, limit, from_committed=False)


@app.command("show")
def show(topic: str = typer.Argument(..., help="Source topic (or its .dlq)"),
         limit: int = typer.Option(50, min=1, help="At most this many letters"),
         as_json: bool = typer.Option(False, "--json", help="Whole letters, one JSON a line")
         ) -> None:
    """The dead letters of a topic, oldest first: where they came from and why they failed."""
    letters = run(_read(_dlq_of(topic), limit), "dlq show")
    if as_json:
        for tp, offset, letter in letters:
            print(json.dumps({"dlq_partition": tp.partition, "dlq_offset": offset,
                              **letter.model_dump(mode="json")}))
        return
    rows = [{"source": f"{d.source_topic}[{d.partition}]@{d.offset}", "key": d.key,
             "group": d.consumer_group, "error": d.error[:120]} for _, _, d in letters]
    print_rows(rows, ["source", "key", "group", "error"], False,
               title=f"{_dlq_of(topic)}: {len(rows)} letter(s)")


async def _replay(dlq: str, group: str | None, dry_run: bool) -> tuple[int, int]:
    """Re-publish every letter not replayed yet to its source topic (original key, the letter's
    place in a header), committing the replay group's DLQ offset after each acknowledgement: a
    second replay, or one resumed after a failure, publishes nothing twice."""
    from aiokafka.structs import OffsetAndMetadata

    sent = skipped = 0
    async with started(clients.producer()) as producer, \
            started(clients.consumer(group_id=REPLAY_GROUP)) as consumer:
        letters = await _letters(consumer, dlq, None, from_committed=True)
        with progress_bar() as bar:
            task = bar.add_task(f"replay {dlq}", total=len(letters))
            for tp, offset, d in letters:
                if group and d.consumer_group != group:
                    skipped += 1
                elif not dry_run:
                    await producer.send_and_wait(
                        d.source_topic, d.value.encode(), key=d.key.encode() if d.key else None,
                        headers=[("content-type", b"application/json"),
                                 (REPLAYED_HEADER, f"{dlq}:{tp.partition}:{offset}".encode())])
                    sent += 1
                else:
                    sent += 1
                if not dry_run:
                    await consumer.commit({tp: OffsetAndMetadata(offset + 1, "")})
                bar.advance(task)
    return sent, skipped


@app.command("replay")
def replay(topic: str = typer.Argument(..., help="Source topic (or its .dlq)"),
           group: str = typer.Option(None, help="Only letters dead-lettered by this consumer "
                                                "group (others are passed over for good)"),
           dry_run: bool = typer.Option(False, "--dry-run", help="Count, publish nothing")
           ) -> None:
    """Re-publish dead letters to their source topic, once each (the consumers are idempotent;
    the replay's progress is kept in consumer group mintrace-dlq-replay). Fix the cause first:
    a letter that fails again lands in the DLQ again, as a new letter."""
    dlq = _dlq_of(topic)
    sent, skipped = run(_replay(dlq, group, dry_run), "dlq replay")
    verb = "would replay" if dry_run else "replayed"
    err.print(f"{verb} {sent} letter(s) from {dlq}"
              + (f", passed over {skipped} of other groups" if skipped else ""))
