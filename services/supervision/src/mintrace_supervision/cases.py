"""An alert's case (SPEC §7): open → assigned → closed with an outcome, reopen back to open;
notes at any time. Pure rules: no database, no broker."""

import re
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mintrace_common.models import CaseAction, CaseOutcome, CaseStatus

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InvalidTransition(ValueError):
    """The action does not apply to the case as it stands (HTTP 409)."""


@dataclass(frozen=True)
class Case:
    status: CaseStatus = "open"
    assignee: str | None = None
    outcome: CaseOutcome | None = None


class Action(BaseModel):
    """One request to act on a case; what each action needs is checked here (HTTP 422)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: CaseAction
    assignee: str | None = Field(default=None, min_length=1, max_length=200)
    note: str | None = Field(default=None, min_length=1, max_length=4000)
    outcome: CaseOutcome | None = None

    @field_validator("assignee", "note")
    @classmethod
    def _printable(cls, v: str | None) -> str | None:
        if v is not None and CONTROL.search(v):
            raise ValueError("must not contain control characters")
        return v

    @model_validator(mode="after")
    def _fields_of_the_action(self) -> "Action":
        if self.action == "assign" and not self.assignee:
            raise ValueError("assign needs an assignee")
        if self.action == "note" and not self.note:
            raise ValueError("note needs a note")
        if self.action == "close" and not self.outcome:
            raise ValueError("close needs an outcome: confirmed_violation, no_violation "
                             "or referred")
        if self.outcome and self.action != "close":
            raise ValueError("only close takes an outcome")
        if self.assignee and self.action != "assign":
            raise ValueError("only assign takes an assignee")
        return self


def apply(case: Case, a: Action) -> Case:
    """The case after `a`. Raises InvalidTransition."""
    match a.action:
        case "note":
            return case
        case "assign":
            if case.status == "closed":
                raise InvalidTransition("the case is closed: reopen it before assigning")
            return replace(case, status="assigned", assignee=a.assignee)
        case "close":
            if case.status == "closed":
                raise InvalidTransition("the case is already closed")
            return replace(case, status="closed", outcome=a.outcome)
        case "reopen":
            if case.status != "closed":
                raise InvalidTransition(f"only a closed case can be reopened (it is {case.status})")
            return Case("open", None, None)
    raise InvalidTransition(f"unknown action {a.action!r}")
