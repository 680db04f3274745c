"""Per-service metrics (Prometheus); served on /metrics by `health`."""

from prometheus_client import Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.counters = {
            "consumed_total": Counter("mintrace_messages_received_total",
                                      "Messages received from a topic", ["topic"]),
            "processed_total": Counter("mintrace_messages_processed_total",
                                       "Messages processed", ["topic"]),
            "dlq_total": Counter("mintrace_messages_dead_lettered_total",
                                 "Messages sent to a DLQ", ["topic"]),
            "received_total": Counter("mintrace_reports_received_total",
                                      "Reports accepted by intake", []),
            "retries_total": Counter("mintrace_stage_retries_total",
                                     "Batches rewound after a transient failure", ["topic"]),
            "http_responses_total": Counter("mintrace_http_responses_total",
                                            "HTTP answers by route template and status",
                                            ["route", "status"]),
            "rejected_total": Counter("mintrace_reports_rejected_total",
                                      "Reports rejected", ["stage"]),
            "fx_rate_missing_total": Counter(
                "mintrace_fx_rate_missing_total",
                "Routed reports whose value has no registry rate to USD (not converted)",
                ["currency"]),
        }
        self.histograms = {
            "batch_seconds": Histogram("mintrace_batch_seconds", "Time to process one batch",
                                       ["topic"]),
            "http_seconds": Histogram("mintrace_http_seconds", "HTTP request latency", ["route"]),
            "latency_seconds": Histogram(
                "mintrace_processing_latency_seconds",
                "From a record's broker timestamp until it was processed", ["topic"],
                buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300)),
        }
        self.gauges = {
            "consumer_lag": Gauge("mintrace_consumer_lag_messages",
                                  "Records not yet consumed, per partition",
                                  ["topic", "partition", "group"]),
            "outbox_age": Gauge("mintrace_outbox_oldest_unpublished_seconds",
                                "Age of the oldest row stored but not yet acknowledged by the "
                                "broker (0 when none)", ["table"]),
        }

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        c = self.counters[name]
        (c.labels(**labels) if labels else c).inc(n)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.histogram(name, **labels).observe(value)

    def histogram(self, name: str, **labels: str):
        """One labelled histogram, to observe many values with one label lookup."""
        h = self.histograms[name]
        return h.labels(**labels) if labels else h


    def set(self, name: str, value: float, **labels: str) -> None:
        g = self.gauges[name]
        (g.labels(**labels) if labels else g).set(value)


METRICS = Metrics()
