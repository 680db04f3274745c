from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings, read from the environment (names as in the deployment manifests)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/mintrace"
    service_name: str = "mintrace"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    metrics_port: int = Field(default=0, description="0 = no separate metrics/health listener")
    log_level: str = "INFO"
    log_format: str = Field(default="auto", description="json | console | auto (console on a TTY)")
    otel_exporter_otlp_endpoint: str | None = None
    kafka_max_records: int = 500
    kafka_linger_ms: int = 5
    db_pool_min: int = 1
    db_pool_max: int = 8
    registry_refresh_s: float = 5.0
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


@lru_cache
def get_settings() -> Settings:
    return Settings()
