from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings, read from the environment (names as in the deployment manifests)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/mintrace"
    database_role: str | None = Field(default=None, description="the service's database role "
                                      "(mintrace_<service>, created by the migrations): every "
                                      "pooled connection acts with its privileges only")
    service_name: str = "mintrace"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    metrics_port: int = Field(default=0, description="0 = no separate metrics/health listener")
    log_level: str = "INFO"
    log_format: str = Field(default="auto", description="json | console | auto (console on a TTY)")
    otel_exporter_otlp_endpoint: str | None = None
    kafka_max_records: int = 500
    kafka_linger_ms: int = 5
    kafka_fetch_max_wait_ms: int = Field(
        default=50, ge=0, description="longest a fetch of a group on the reports' path "
        "(topics.REPORT_PATH_GROUPS) waits for records. Apache Kafka answers a waiting fetch as "
        "soon as records arrive; Tansu (the dev stack's broker) holds it, so there a record "
        "waits about a quarter of this per hop (aiokafka's 500 ms default: ~130 ms), while a "
        "shorter wait costs the broker CPU for every idle poll (bench/fetch_wait.py)")
    kafka_fetch_max_wait_side_ms: int = Field(
        default=500, ge=0, description="the same for every other group (status projection, "
        "cancellations, licence events): they are idle most of the time")
    kafka_max_request_bytes: int = Field(default=1_048_576, description="largest record produced; "
                                         "a larger one is refused (dead-lettered), never retried")
    stage_in_flight: int = Field(default=4, ge=1, description="batches a stage has in flight: "
                                 "the next batch runs while the previous one's outputs are acked")
    stage_commit_interval_s: float = Field(default=0.25, description="offsets are committed in "
                                           "order at most this often (and when idle, on revoke, "
                                           "on stop); intake's load shedding reads the pipeline's "
                                           "backlog from them, so a longer interval shows a "
                                           "larger backlog than there is")
    otel_traces_sampler_ratio: float = Field(default=1.0, ge=0, le=1, description="share of new "
                                             "traces sampled; a sampled parent is always followed")
    db_pool_min: int = 1
    db_pool_max: int = 8
    registry_refresh_s: float = 5.0
    # Server-side limits on every pooled connection: a frozen process cannot hold locks (licence
    # rows FOR UPDATE, alerting's advisory lock) longer than these.
    db_statement_timeout_ms: int = 30_000
    db_lock_timeout_ms: int = 10_000
    db_idle_in_transaction_timeout_ms: int = 30_000
    db_acquire_timeout_s: float = Field(default=10.0, description="waiting longer for a pooled "
                                        "connection is a transient error")
    # /healthz fails when a partition with records waiting has not moved for this long.
    consumer_stuck_after_s: float = 300.0
    lag_interval_s: float = Field(default=15.0, description="how often lag is read from the broker")
    # Broker credentials (the service's Strimzi KafkaUser); none = plaintext, as in the dev stack.
    kafka_sasl_mechanism: str = Field(default="SCRAM-SHA-512",
                                      description="SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl: bool = False
    kafka_ssl_cafile: str | None = None
    # Bearer keys of the HTTP services (mintrace_common.keycache)
    auth_unknown_key_cache_s: float = Field(
        default=60.0, description="how long a key the database does not know is refused (401) "
                                  "without asking it again")
    auth_lookups_per_s: float = Field(
        default=50.0, description="database lookups per second of keys in no cache (burst "
                                  "AUTH_LOOKUPS_BURST); beyond: 429. 0 = unlimited")
    auth_lookups_burst: float = 200.0
    auth_failures_per_s_per_client: float = Field(
        default=10.0, description="failed key lookups per second one client address may cause "
                                  "(burst AUTH_FAILURES_BURST_PER_CLIENT); beyond: 429. 0 = "
                                  "unlimited")
    auth_failures_burst_per_client: float = 100.0

