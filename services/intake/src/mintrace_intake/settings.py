from pydantic import Field

from mintrace_common.settings import Settings


class IntakeSettings(Settings):
    """Intake's own knobs, read from the environment like every other setting."""

    intake_rate_per_s: float = Field(
        default=5000.0, description="reports per second each producer may submit, sustained; "
                                    "0 turns rate limiting off")
    intake_burst: float = Field(
        default=20000.0, description="reports a producer may submit at once (bucket size); "
                                     "at least one full batch")
    intake_key_cache_s: float = Field(
        default=5.0, description="how long a verified key is trusted without asking the "
                                 "database: the longest a revoked key keeps working")
    intake_max_report_bytes: int = 256 * 1024
    intake_max_batch_bytes: int = 16 * 1024 * 1024
    intake_max_backlog: int = Field(
        default=3000, description="reports accepted but not yet routed past which intake sheds "
                                  "load (503 with Retry-After); 0 = never shed")
    intake_max_backlog_s: float = Field(
        default=1.0, ge=0, description="shed also once the backlog is more than this many "
        "seconds of the rate the pipeline drains at (never below 1000 reports): what is "
        "accepted keeps a bounded latency; 0 = only INTAKE_MAX_BACKLOG")
    intake_cancel_window_hours: float = Field(
        default=72.0, gt=0, description="how long after its acceptance a report may be "
                                        "cancelled; later the cancel endpoint answers 409")
