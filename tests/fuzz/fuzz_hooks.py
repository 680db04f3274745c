"""Schemathesis hooks for fuzzing mintrace's live HTTP APIs (loaded by `schemathesis run` through
SCHEMATHESIS_HOOKS; configured by the environment of that run, see fuzz_harness.Identity):

- check `no_foreign_data`: no response shows the key's holder what belongs to another producer
  or province (MINTRACE_FUZZ_FORBIDDEN, a JSON list of markers such as report ids and USCCs);
  a marker the request itself carried is an echo, not a leak.
- a report body names the key's producer (MINTRACE_FUZZ_PRODUCER), so that generated reports
  get past the 403 and the fuzz reaches acceptance, status and cancellation.
- the requests take turns with the bearer keys of MINTRACE_FUZZ_KEYS (a JSON list; null: no
  Authorization header at all)."""

import itertools
import json
import os

import schemathesis

FORBIDDEN: list[str] = json.loads(os.environ.get("MINTRACE_FUZZ_FORBIDDEN", "[]"))
PRODUCER = os.environ.get("MINTRACE_FUZZ_PRODUCER")
KEYS = itertools.cycle(json.loads(os.environ.get("MINTRACE_FUZZ_KEYS", "[null]")))


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    key = next(KEYS)
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    case.headers = headers


def _sent(case) -> str:
    parts = [case.formatted_path, json.dumps(case.query, default=str),
             json.dumps(case.path_parameters, default=str)]
    try:
        parts.append(json.dumps(case.body, default=str))
    except (TypeError, ValueError):
        parts.append(repr(case.body))
    return "\n".join(parts)


@schemathesis.check
def no_foreign_data(ctx, response, case):
    """The body answered to this key holds nothing of another producer or province."""
    text = response.text or ""
    sent = _sent(case)
    leaked = [m for m in FORBIDDEN if m in text and m not in sent]
    if leaked:
        raise AssertionError(f"response shows another party's data: {leaked[:5]}")


def _own(report):
    if isinstance(report, dict) and "producer_id" in report and PRODUCER:
        return {**report, "producer_id": PRODUCER}
    return report


@schemathesis.hook("map_body")
def name_the_keys_producer(context, body):
    if PRODUCER is None or context.operation is None:
        return body
    if not context.operation.path.startswith("/v1/reports"):
        return body
    return [_own(r) for r in body] if isinstance(body, list) else _own(body)
