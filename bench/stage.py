"""CPU time per record of the stage itself (decode -> run -> produce, metrics), in process, with
no broker: a fake producer acknowledges at once and the business function only extends each
envelope. CPU time, best of 5 rounds, so that a shared machine moves it little; run it with two
checkouts' interpreters one after the other to compare them.

    .venv/bin/python bench/stage.py [--records 500] [--rounds 5]
"""

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

from aiokafka.structs import ConsumerRecord
from mintrace_common import topics
from mintrace_common.delivery import Stage
from mintrace_common.examples import BY_MODEL
from mintrace_common.models import ValidatedReport
from mintrace_common.publisher import Emit, Publisher




class Producer:
    async def send(self, topic, value, key, headers):
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def validate(batch):
    now = datetime.now(UTC)
    return [Emit(topics.VALIDATED.name, r.report_id, ValidatedReport.extending(
        r, quantity_kg=Decimal(1), warnings=[], validated_at=now)) for r in batch]


def body(i: int) -> bytes:
    b = json.loads(json.dumps(BY_MODEL["ReceivedReport"]))
    b["report_id"] = b["report"]["report_id"] = f"R{i}"
    return json.dumps(b).encode()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    now_ms = int(time.time() * 1000)
    records = [ConsumerRecord(topics.RECEIVED.name, 0, i, now_ms, 0, f"R{i}".encode(), body(i),
                              None, 0, 0, ()) for i in range(args.records)]
    stage = Stage(topics.RECEIVED, "bench", validate, Publisher(producer=Producer()))
    await stage.handle(records)
    best = float("inf")
    for _ in range(args.rounds):
        t0 = time.process_time()
        for _ in range(10):
            await stage.handle(records)
        best = min(best, (time.process_time() - t0) / (10 * len(records)) * 1e6)
    print(f"stage CPU per record (decode, extend, encode, metrics), best of {args.rounds}: "
          f"{best:.1f} µs")


if __name__ == "__main__":
    asyncio.run(main())
