"""CONSOLE FORMS HOOK (issue 14, item 4): the console's forms through the HTTP layer. Skipped
while the build serves no /console/ (the console arrives with the cases work); once it does,
the sign-in form's field is fuzzed (never a 5xx) and a state-changing post without its CSRF
token is refused with 403. Extend FORM_POSTS as the console grows forms."""

import secrets

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e
FORM_POSTS = ["/console/logout"]  # posts that change state: each needs the session's CSRF token
KEYS = st.text(max_size=80) | st.sampled_from(["", "\x00", "mts_" + "A" * 43, "' OR 1=1 --"])


def console_or_skip(stack) -> None:
    if httpx.get(f"{stack.supervision_url}/console/login", timeout=30).status_code == 404:
        pytest.skip("CONSOLE FORMS HOOK: this build serves no /console/ yet")


def test_the_sign_in_form_answers_any_key_without_a_server_error(stack):
    console_or_skip(stack)

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(KEYS)
    def sign_in(key):
        resp = httpx.post(f"{stack.supervision_url}/console/login", data={"key": key},
                          timeout=30, follow_redirects=False)
        assert resp.status_code < 500, (key, resp.status_code, resp.text[:300])
        assert resp.status_code in (303, 401, 422, 429)

    sign_in()


async def test_console_posts_without_their_csrf_token_are_refused_with_403(stack):
    console_or_skip(stack)
    from test_fuzz_openapi import issue

    key = await issue("supervisor", "jiangxi", stack.database_url)
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30,
                                 follow_redirects=False) as client:
        signed_in = await client.post("/console/login", data={"key": key})
        assert signed_in.status_code == 303, signed_in.text[:300]
        for path in FORM_POSTS:
            for form in ({}, {"csrf": secrets.token_urlsafe(32)}):
                resp = await client.post(path, data=form)
                assert resp.status_code == 403, (path, form, resp.status_code)
