import json
import tracemalloc
from decimal import Decimal

import pytest

from mintrace_intake import bodies
from mintrace_intake.bodies import HTTPProblem


async def _stream(*chunks: bytes):
    for c in chunks:
        yield c


def _refused(fn, *args) -> HTTPProblem:
    with pytest.raises(HTTPProblem) as exc:
        result = fn(*args)
        if not isinstance(result, (bytes, dict, list, str, int)):
            list(result)
    return exc.value


async def test_a_declared_oversized_body_is_refused_before_reading():
    async def never():
        raise AssertionError("read the body")
        yield b""
    with pytest.raises(HTTPProblem) as exc:
        await bodies.read_body(never(), "2000", 1000)
    assert exc.value.status == 413


async def test_an_undeclared_oversized_body_is_refused_while_streaming():
    with pytest.raises(HTTPProblem) as exc:
        await bodies.read_body(_stream(b"x" * 600, b"x" * 600, b"never"), None, 1000)
    assert exc.value.status == 413
    assert await bodies.read_body(_stream(b"x" * 600, b"y"), None, 1000) == b"x" * 600 + b"y"


def test_a_batch_array_yields_each_item():
    got = list(bodies.items(b' [ {"a": 1} , [2] ] ', "application/json", 10, 1000))
    assert got == [{"a": 1}, [2]]
    assert list(bodies.items(b"[]", "application/json", 10, 1000)) == []


def test_an_ndjson_batch_reports_a_bad_line_as_its_own_problem():
    got = list(bodies.items(b'{"a": 1}\n\n{oops\n[3]\n', "application/x-ndjson", 10, 1000))
    assert got[0] == {"a": 1} and got[2] == [3]
    assert isinstance(got[1], HTTPProblem) and got[1].problems[0].code == "INVALID_JSON"


def test_ndjson_lines_end_at_newline_only_and_tolerate_crlf():
    # U+2028, U+2029 and U+0085 are legal raw inside a JSON string: they split no line
    body = '{"a": "x\u2028y\u2029z\u0085"}\r\n{"b": 2}\r\n'.encode()
    assert list(bodies.items(body, "application/x-ndjson", 10, 1000)) == [
        {"a": "x\u2028y\u2029z\u0085"}, {"b": 2}]


def test_json_numbers_keep_their_exact_decimal_value():
    doc = bodies.one(b'{"q": 999999999999.999999, "p": 0.1, "e": 1.5e3, "n": 7}')
    assert doc == {"q": Decimal("999999999999.999999"), "p": Decimal("0.1"),
                   "e": Decimal("1.5e3"), "n": 7}
    [item] = bodies.items(b'[{"q": 999999999999.999999}]', "application/json", 10, 1000)
    assert item["q"] == Decimal("999999999999.999999")


def test_an_ndjson_line_over_the_item_limit_is_413_for_that_line_only():
    body = b'{"a": "' + b"x" * 5000 + b'"}\n{"b": 2}\n'
    got = list(bodies.items(body, "application/x-ndjson", 10, 1000))
    assert isinstance(got[0], HTTPProblem) and got[0].status == 413
    assert got[1] == {"b": 2}


def test_an_array_item_over_the_limit_makes_the_request_413_without_parsing_it_whole():
    # past the limit the item is not even JSON: parsed whole it would be 422
    body = b'[{"a": 1}, {"a": "' + b"x" * 300_000 + b'", garbage'
    got = bodies.items(body, "application/json", 10, 256 * 1024)
    assert next(got) == {"a": 1}
    with pytest.raises(HTTPProblem) as exc:
        next(got)
    assert exc.value.status == 413 and "[1]" in exc.value.detail


def test_items_just_within_the_limit_are_parsed_in_any_position():
    limit = 20_000
    big = {"a": "y" * (limit - 12)}  # serialised: limit - 12 + 10 bytes
    body = json.dumps([7, big, 12345678901234567890, big, "s"]).encode()
    assert list(bodies.items(body, "application/json", 10, limit)) == [
        7, big, 12345678901234567890, big, "s"]
    numbers = b"[" + b", ".join([b"1" * 4000] * 5) + b"]"  # a number cut by the first window
    assert list(bodies.items(numbers, "application/json", 10, limit)) == [int("1" * 4000)] * 5


def test_a_16_mib_single_item_batch_is_refused_without_materialising_it():
    body = b'[{"inputs": [' + b", ".join([b"[0]"] * (16 * 1024 * 1024 // 5)) + b"]}]"
    tracemalloc.start()
    try:
        with pytest.raises(HTTPProblem) as exc:
            list(bodies.items(body, "application/json", 1000, 256 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.value.status == 413
    assert peak < 16 * 1024 * 1024, peak  # parsed whole, the item alone takes hundreds of MB


def test_more_items_than_allowed_is_413_before_the_rest_is_parsed():
    # the 4th item is not even JSON: the count stops parsing before reaching it
    p = _refused(bodies.items, b"[1, 2, 3, {garbage", "application/json", 2, 1000)
    assert p.status == 413
    p = _refused(bodies.items, b"1\n2\n3\n", "application/x-ndjson", 2, 1000)
    assert p.status == 413


@pytest.mark.parametrize("body, code", [
    (b"{not json", "BATCH_NOT_ARRAY"), (b"[{not json]", "INVALID_JSON"),
    (b"\xff\xfe", "INVALID_JSON"), (b"[1] [2]", "INVALID_JSON"),
    (b"[1 2]", "INVALID_JSON"), (b'{"a": 1}', "BATCH_NOT_ARRAY"), (b"[NaN]", "INVALID_JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "INVALID_JSON"), (b"", "BATCH_NOT_ARRAY"),
])
def test_bodies_that_are_not_a_json_array_are_422_with_a_code(body, code):
    p = _refused(bodies.items, body, "application/json", 1000, 256 * 1024)
    assert p.status == 422 and p.problems[0].code == code


def test_a_single_document_refuses_trailing_data_and_infinity():
    assert bodies.one(b' {"a": [1]} \n') == {"a": [1]}
    for body in (b'{"a": 1} x', b'{"v": Infinity}', b"[" * 50_000):
        assert _refused(bodies.one, body).status == 422


@pytest.mark.parametrize("loc, prefix, path", [
    (("inputs", 0, "lot_id"), "", "inputs[0].lot_id"), (("quantity", "value"), "[3]",
                                                        "[3].quantity.value"),
    ((), "", "$"), (("bad\nkey\ud800" + "k" * 200,), "", None),  # None: printable, short
])
def test_problem_paths_are_json_paths_and_printable(loc, prefix, path):
    got = bodies.json_path(loc, prefix)
    if path is None:
        assert got.isprintable() and got.isascii() and len(got) < 200
    else:
        assert got == path
