"""Settings, read from the environment (prefix ``TRESOR_``) by the entry points only.

TRESOR_DATA_DIR           where the SQLite database and key files live
                          (default: the per-user data folder, e.g. ~/.local/share/tresor)
TRESOR_DATABASE_URL       e.g. postgresql+asyncpg://user@host/db (default: SQLite in DATA_DIR)
TRESOR_MASTER_KEY         base64 of 32 bytes; default: a key file created on first run (0600)
TRESOR_ENDPOINTS          '{"sim": {"exchange": "binance", "url": "http://127.0.0.1:8900"}}'
                          (optional per endpoint: "weight_per_minute", "orders_per_10s", where
                          a simulator or testnet has limits other than the exchange's)
TRESOR_EGRESS_IPS         the addresses users must allow on their keys: '203.0.113.7,...'
TRESOR_TOKEN_TTL_SECONDS  access token lifetime (default 86400)
TRESOR_MAX_CONNECTIONS_PER_USER  (default 10)
TRESOR_DATABASE_SCHEMA    PostgreSQL only: the schema Tresor's tables live in (default public)
TRESOR_SQLITE_SYNCHRONOUS SQLite only: NORMAL (default; a crash of the process loses no commit, a
                          power cut may lose the last ones) or FULL (an fsync per commit)
TRESOR_REDIS_URL          redis://host:6379/0: the distributed mode (shared rate budget, job queue)
TRESOR_REDIS_PREFIX       the prefix of Tresor's Redis keys (default tresor): one per deployment
TRESOR_WORKER_CONCURRENCY sync jobs one worker process runs at once (default 8)
TRESOR_SYNC_LEASE_SECONDS how long a dead worker's connection stays claimed (default 600)
TRESOR_REQUEST_LOG_DAYS   how long the exchange request log is kept (default 30)
TRESOR_STALE_AFTER_SECONDS  alert when a connection has not synced for this long (default 300)
TRESOR_PORTFOLIO_QUOTE    the currency portfolios are valued in (default USD)
TRESOR_ROUTE_QUOTE_TTL_SECONDS   how long a route quote may be executed (default 30)
TRESOR_ROUTE_QUOTE_KEEP_SECONDS  how long a quote never executed is kept after (default 86400)
TRESOR_RULES_FEE          the taker fee rebalancing plans assume, a fraction (default 0.001)
TRESOR_RULES_BALANCE_AGE_SECONDS  balances older are read again before a rule's check (30)
TRESOR_RULES_PER_USER     (default 100)
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class EndpointConfig(BaseModel):
    exchange: str
    url: str
    # the endpoint's request-weight limit per minute, when not the exchange's documented one
    # (a simulator or testnet configured with another)
    weight_per_minute: int | None = Field(default=None, ge=1)
    # the endpoint's order-rate limit per account per 10 seconds, likewise
    orders_per_10s: int | None = Field(default=None, ge=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an endpoint url must start with http:// or https://")
        return value.rstrip("/")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("tresor", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRESOR_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    database_schema: str | None = None
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "NORMAL"
    master_key: SecretStr | None = None
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    egress_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    token_ttl_seconds: int = Field(default=86_400, ge=60)
    refresh_ttl_seconds: int = Field(default=30 * 86_400, ge=60)
    max_connections_per_user: int = Field(default=10, ge=1)
    auth_max_failures: int = Field(default=5, ge=1)
    auth_failure_window_seconds: int = Field(default=300, ge=1)
    token_cache_seconds: float = Field(default=10.0, ge=0)
    verify_wait_seconds: float = Field(default=20.0, gt=0)
    # "all": one process serves the API and is the trading worker (the embedded default);
    # "api": serve only, with the worker's public key (trade keys are stored, never readable);
    # "worker": hold the worker's private key and verify trade keys (``tresor worker``)
    process_role: Literal["all", "api", "worker"] = "all"
    # the distributed mode: Redis holds the shared rate budget and the job queue
    redis_url: str | None = None
    redis_prefix: str = Field(default="tresor", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    sync_lease_seconds: float = Field(default=600.0, ge=3)
    exchange_timeout_ms: int = Field(default=10_000, ge=100)
    request_log_days: int = Field(default=30, ge=1)
    stale_after_seconds: int = Field(default=300, ge=10)
    portfolio_quote: str = "USD"
    # smart order routing: how long a quote may be executed, and how long one never executed is
    # kept after it expired
    route_quote_ttl_seconds: float = Field(default=30.0, ge=1, le=3_600)
    route_quote_keep_seconds: float = Field(default=86_400.0, ge=60)
    # rebalancing rules: the taker fee their plans assume (a fraction), how old balances may be
    # before an evaluation reads them again, and how many rules one user may have
    rules_fee: Decimal = Field(default=Decimal("0.001"), ge=0, lt=Decimal("0.1"))
    rules_balance_age_seconds: int = Field(default=30, ge=1)
    rules_per_user: int = Field(default=100, ge=1)
    # the dashboard's sessions end this long after they were last used, and this long after
    # sign-in whatever happens
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # the event loop of ``tresor serve`` and the demo: uvloop when it is installed ("auto"; it
    # comes with uvicorn[standard]), or asyncio's own
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"

    @field_validator("egress_ips", mode="before")
    @classmethod
    def _split_ips(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value
