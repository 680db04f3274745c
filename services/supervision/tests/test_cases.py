import pytest
from pydantic import ValidationError

from mintrace_supervision.cases import Action, Case, InvalidTransition, apply


def act(**kw) -> Action:
    return Action(**kw)


def test_assign_note_close_reopen_walk_a_case_round():
    case = apply(Case(), act(action="assign", assignee="Zhang San"))
    assert case == Case("assigned", "Zhang San", None)
    assert apply(case, act(action="note", note="called the exporter")) == case
    closed = apply(case, act(action="close", outcome="referred"))
    assert closed == Case("closed", "Zhang San", "referred")
    assert apply(closed, act(action="reopen")) == Case("open", None, None)


def test_an_open_case_may_be_closed_without_an_assignee():
    assert apply(Case(), act(action="close", outcome="no_violation")).status == "closed"


@pytest.mark.parametrize("case,action", [
    (Case("closed", None, "referred"), {"action": "close", "outcome": "no_violation"}),
    (Case("closed", None, "referred"), {"action": "assign", "assignee": "x"}),
    (Case(), {"action": "reopen"}),
    (Case("assigned", "x", None), {"action": "reopen"}),
])
def test_invalid_transitions_are_refused(case, action):
    with pytest.raises(InvalidTransition):
        apply(case, Action(**action))


@pytest.mark.parametrize("body", [
    {"action": "close"}, {"action": "close", "outcome": "guilty"}, {"action": "assign"},
    {"action": "note"}, {"action": "note", "note": " "}, {"action": "wave"},
    {"action": "note", "note": "x", "outcome": "referred"},
    {"action": "reopen", "assignee": "x"}, {"action": "note", "note": "bell\x07"},
    {"action": "note", "note": "x", "by": "someone else"},
])
def test_malformed_actions_are_refused_before_any_rule(body):
    with pytest.raises(ValidationError):
        Action(**body)
