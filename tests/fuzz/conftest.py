"""The fuzz runs' summary, printed at the end of the test output (also under `-q`)."""

import fuzz_harness

OUTCOMES = fuzz_harness.OUTCOMES


def pytest_terminal_summary(terminalreporter):
    if not OUTCOMES:
        return
    terminalreporter.section("schemathesis fuzz of the live OpenAPI documents")
    for o in OUTCOMES:
        terminalreporter.write_line(o.line)
    terminalreporter.write_line(
        f"total: {sum(o.operations for o in OUTCOMES)} operation runs, "
        f"{sum(o.cases for o in OUTCOMES)} examples, "
        f"failures: {sum(o.failures + o.errors for o in OUTCOMES)}")
