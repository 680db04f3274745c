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


def test_a_batch_array_yields_each_item_with_its_size():
    got = list(bodies.items(b' [ {"a": 1} , [2] ] ', "application/json", 10))
    assert got == [({"a": 1}, 8), ([2], 3)]
    assert list(bodies.items(b"[]", "application/json", 10)) == []


def test_an_ndjson_batch_reports_a_bad_line_as_its_own_problem():
    got = list(bodies.items(b'{"a": 1}\n\n{oops\n[3]\n', "application/x-ndjson", 10))
    assert got[0] == ({"a": 1}, 8) and got[2] == ([3], 3)
    assert isinstance(got[1], HTTPProblem) and got[1].problems[0].code == "INVALID_JSON"


def test_more_items_than_allowed_is_413_before_the_rest_is_parsed():
    # the 4th item is not even JSON: the count stops parsing before reaching it
    p = _refused(bodies.items, b"[1, 2, 3, {garbage", "application/json", 2)
    assert p.status == 413
    p = _refused(bodies.items, b"1\n2\n3\n", "application/x-ndjson", 2)
    assert p.status == 413


@pytest.mark.parametrize("body, code", [
    (b"{not json", "BATCH_NOT_ARRAY"), (b"[{not json]", "INVALID_JSON"),
    (b"\xff\xfe", "INVALID_JSON"), (b"[1] [2]", "INVALID_JSON"),
    (b"[1 2]", "INVALID_JSON"), (b'{"a": 1}', "BATCH_NOT_ARRAY"), (b"[NaN]", "INVALID_JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "INVALID_JSON"), (b"", "BATCH_NOT_ARRAY"),
])
def test_bodies_that_are_not_a_json_array_are_422_with_a_code(body, code):
    p = _refused(bodies.items, body, "application/json", 1000)
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
