from datetime import timedelta

from pydantic import Field

from mintrace_common.settings import Settings


class ValidationSettings(Settings):
    validation_late_after_hours: float = Field(
        default=168.0, description="a report submitted longer than this after it occurred is "
                                   "flagged REPORTED_LATE (a warning, not a rejection)")

    @property
    def late_after(self) -> timedelta:
        return timedelta(hours=self.validation_late_after_hours)
