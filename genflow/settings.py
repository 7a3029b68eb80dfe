"""The one typed settings object. Nothing else in genflow reads environment variables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from genflow.auth import AUDIENCE, ISSUER, MAX_LIFETIME_SECONDS, check_secret
from genflow.domain import STAGES, StageName, stage_def


class Settings(BaseSettings):
    """Process-wide configuration, read from `GENFLOW_*` variables plus the two
    conventional names `DATABASE_URL` and `TEMPORAL_ADDRESS`."""

    model_config = SettingsConfigDict(
        env_prefix="GENFLOW_", populate_by_name=True, extra="ignore", frozen=True
    )

    environment: Literal["development", "production"] = "development"
    home: Path = Path(".genflow")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GENFLOW_DATABASE_URL")
    )
    temporal_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "GENFLOW_TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = "default"
    task_queue: str = "generations"

    # The bearer tokens' signing secret: there is no default. The API refuses to start
    # without one (32+ characters) whatever the environment; `genflow up` makes one in
    # its home. Workers do not need it.
    jwt_secret: SecretStr | None = None
    jwt_audience: str = AUDIENCE
    jwt_issuer: str = ISSUER
    # What `genflow token` and `genflow up` mint: this lifetime unless asked otherwise,
    # never longer than the longest the API accepts (`exp - iat`).
    token_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    token_max_ttl_seconds: int = Field(default=MAX_LIFETIME_SECONDS, gt=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # The API's public base URL (`https://genflow.example.com`, optionally with a path
    # prefix): `Location` headers and `urls` are absolute under it; unset: paths only.
    public_url: str | None = None
    # Origins browsers may call the API from (CORS), comma-separated or a JSON list;
    # empty: CORS is off (no Access-Control-* headers).
    cors_origins: Annotated[list[str], NoDecode] = []
    # Bearer token `GET /metrics` requires. Unset: /metrics is open in development and
    # refused (403) in production.
    metrics_token: SecretStr | None = None

    # Per-user limits; past either, creates answer 429 with Retry-After.
    max_active_per_user: int = 20
    max_creates_per_minute: int = 120
    idempotency_ttl_hours: int = 24
    # A generation's deadline unless its request sets `timeout_seconds`: past it, it
    # fails with deadline_exceeded (two days: longer than the default approval wait).
    generation_timeout_seconds: float = Field(default=48 * 3600.0, gt=0)
    # A generation created with require_approval fails with approval_timeout after this.
    approval_timeout_seconds: float = 24 * 3600

    # Webhooks: delays between delivery attempts (immediately, 5 s, 5 min, 30 min, 2 h,
    # then every 5 h up to 24 h); URLs inside the network are refused unless allowed.
    webhook_retry_schedule_seconds: list[float] = [0.0, 5.0, 300.0, 1800.0, 7200.0] + [18000.0] * 4
    webhook_allow_private: bool = False
    # Ports a webhook URL may name besides 80 and 443 (comma-separated or a JSON list).
    webhook_extra_ports: Annotated[list[int], NoDecode] = []
    # How long resolving a webhook host may take, and how many resolutions run at once
    # (their own threads, not the event loop's default pool).
    webhook_resolve_seconds: float = Field(default=5.0, gt=0)
    webhook_resolvers: int = Field(default=4, ge=1)
    # After a rotation of a user's webhook secret, deliveries are also signed with the
    # replaced one for this long (unless the rotate request says otherwise).
    webhook_secret_grace_seconds: float = Field(default=24 * 3600.0, ge=0)

    # Prometheus endpoint of a worker (Temporal runtime metrics plus genflow's own);
    # unset: none.
    worker_metrics_port: int | None = None
    worker_metrics_host: str = "127.0.0.1"

    # Log lines of the API and the worker: one JSON object per line (with
    # generation_id, workflow_id, stage and attempt where they apply), or plain text.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # OpenTelemetry traces of Temporal calls (OTLP/HTTP base URL, `/v1/traces` appended);
    # unset: no tracing.
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GENFLOW_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    otel_service_name: str = Field(
        default="genflow",
        validation_alias=AliasChoices("GENFLOW_OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME"),
    )

    # How often the API reads the read model for a waiting client: event streams,
    # `Prefer: wait`, and approve/reject answers. Named for all three; the older name,
    # from when only streams waited, still sets it.
    watch_poll_seconds: float = Field(
        default=0.25,
        validation_alias=AliasChoices(
            "GENFLOW_WATCH_POLL_SECONDS", "GENFLOW_SSE_POLL_SECONDS", "watch_poll_seconds"
        ),
    )
    sse_keepalive_seconds: float = 15.0
    # Requests one user may hold open at once in one API process: event streams, and
    # requests waiting with `Prefer: wait`. Past either, 429 with Retry-After.
    max_streams_per_user: int = Field(default=10, ge=1)
    max_waits_per_user: int = Field(default=10, ge=1)

    # The `openai` provider: any OpenAI-compatible Chat Completions server.
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: SecretStr = SecretStr("")
    openai_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = 120.0

    # Spend (genflow/providers/budget.py). The providers and models users may choose, as
    # a JSON object of lists (GENFLOW_ALLOWED_MODELS='{"openai": ["gpt-4o-mini"]}'; "*"
    # allows any model); unset: builtin, and openai with `openai_model` only. Every model
    # call asks for at most `openai_max_tokens_per_call` tokens. Each generation has a
    # token budget (in and out, all stages): `max_tokens` on create, at most
    # `generation_token_budget_max`, else `generation_token_budget`; past it the
    # generation fails with budget_exceeded. Each user may use at most
    # `daily_token_quota_per_user` tokens a UTC day (0: no quota); past it, creates
    # answer 429 until midnight.
    allowed_models: dict[str, list[str]] | None = None
    openai_max_tokens_per_call: int = Field(default=4096, ge=16)
    generation_token_budget: int = Field(default=200_000, ge=1)
    generation_token_budget_max: int = Field(default=1_000_000, ge=1)
    daily_token_quota_per_user: int = Field(default=2_000_000, ge=0)

    # Stage retries. Infrastructure faults (a worker killed, stopped or starved, a lost
    # database connection) are retried until the stage's deadline, a schedule-to-close
    # long enough for hours of outage (queue time included); errors the stage raises
    # itself use up at most `stage_max_attempts` attempts. A worker that stops
    # heartbeating is noticed after `stage_heartbeat_timeout_seconds`; the workflows it
    # had cached (its sticky queue) go to another worker after `sticky_queue_seconds`.
    stage_deadline_seconds: float = Field(default=6 * 3600.0, gt=0)
    stage_max_attempts: int = Field(default=5, ge=1)
    stage_heartbeat_timeout_seconds: float = Field(default=5.0, ge=1)
    sticky_queue_seconds: float = Field(default=10.0, gt=0)

    # How often the reconciler compares active rows with Temporal, so a workflow closed
    # from outside (Terminate, timeouts, Reset) reaches the read model. It is one
    # long-lived workflow per task queue that continues as new after this many passes
    # (at the defaults, once an hour).
    reconcile_every_seconds: float = Field(default=10.0, gt=0)
    reconcile_passes_per_run: int = Field(default=360, ge=1)

    # The retention schedule: every `retention_every_seconds` it deletes idempotency
    # keys past their TTL, and deletion tombstones and orphaned large inputs older than
    # `tombstone_ttl_hours` (past any workflow that could still start); finished
    # generations older than `generation_retention_days` only when that is set.
    retention_every_seconds: float = Field(default=3600.0, gt=0)
    tombstone_ttl_hours: float = Field(default=7 * 24.0, gt=0)
    generation_retention_days: float | None = Field(default=None, gt=0)

    # Sharing the queues (genflow/fairness.py). Every task of a generation carries its
    # user as Temporal's fairness key, weighted: a per-user weight, else the weight of the
    # user's tier, else the default (JSON objects, e.g. GENFLOW_FAIRNESS_TIER_WEIGHTS=
    # '{"pro": 4}' and GENFLOW_FAIRNESS_USER_TIERS='{"alice": "pro"}'). Off: no fairness
    # key, first in first out within a priority.
    fairness: bool = True
    fairness_default_weight: float = Field(default=1.0, ge=0.001, le=1000)
    fairness_user_weights: dict[str, Annotated[float, Field(ge=0.001, le=1000)]] = {}
    fairness_tier_weights: dict[str, Annotated[float, Field(ge=0.001, le=1000)]] = {}
    fairness_user_tiers: dict[str, str] = {}
    # Tasks one worker takes off the orchestration queue at once (workflow tasks, and
    # activities: the light stages, read-model writes, webhooks). Bounded, so the backlog
    # stays in Temporal's queue, where priority and fairness order it.
    workflow_task_slots: int = Field(default=8, ge=2)
    activity_slots: int = Field(default_factory=lambda: 4 * (os.cpu_count() or 1), ge=1)
    # Each stage attempt's own time limit, in seconds: an attempt that runs past it while
    # its worker is alive fails with `stage_timeout` and counts against
    # `stage_max_attempts`. (A worker that dies is noticed by the heartbeat timeout and
    # costs no attempt.) Unset stages keep their default (genflow/domain.py).
    stage_attempt_seconds: dict[str, Annotated[float, Field(gt=0)]] = {}

    # Which task queues this worker serves: "all" (the default: workflows, the light
    # stages and the sandboxed review), "orchestration" (no generated code) or
    # "sandbox" (only the review, `sandbox_slots` at a time).
    worker_role: Literal["all", "orchestration", "sandbox"] = "all"
    # Sandboxed reviews one worker runs at once; the rest wait in Temporal's queue.
    sandbox_slots: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # `genflow up` runs its workers this much below the API and the Temporal server
    # (nice; the sandboxed test runs go 10 lower still, to 19 at most), so that on a busy
    # machine requests are answered first and the work waits in Temporal's queue. At 5
    # a 16-client burst of creates had a p95 of 336 ms on 2 cores, at 15 262 ms.
    worker_nice: int = Field(default=15, ge=0, le=19)

    # Review: run each generated project's tests in the OS sandbox (bubblewrap; off:
    # not measured). If the sandbox cannot start, the tests are not run (fail closed)
    # unless `unsafe_run_without_sandbox` says to run them with rlimits only.
    run_generated_code: bool = True
    sandbox_bwrap: str = "bwrap"
    unsafe_run_without_sandbox: bool = False
    sandbox_timeout_seconds: float = Field(default=60.0, gt=0)
    sandbox_memory_mb: int = Field(default=1024, ge=64)
    # Memory of a whole run (its processes and its memory-backed /project and /tmp), in
    # a cgroup of its own where the machine offers one (genflow/pipeline/sandbox/cgroups.py).
    sandbox_run_memory_mb: int = Field(default=1024, ge=64)
    sandbox_cpu_seconds: int = Field(default=60, ge=1)
    sandbox_processes: int = Field(default=128, ge=8)
    sandbox_file_size_mb: int = Field(default=64, ge=1)
    sandbox_disk_mb: int = Field(default=512, ge=16)
    sandbox_tmp_size_mb: int = Field(default=256, ge=1)

    @field_validator("cors_origins", "webhook_extra_ports", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("stage_attempt_seconds", mode="after")
    @classmethod
    def _check_attempt_limits(cls, value: dict[str, float]) -> dict[str, float]:
        for stage, seconds in value.items():
            if stage not in STAGES:
                raise ValueError(f"{stage!r} is not a stage; the stages are {', '.join(STAGES)}")
            ceiling = stage_def(StageName(stage)).start_to_close_seconds
            if seconds >= ceiling:
                raise ValueError(f"{stage} attempts must be limited to under {ceiling:g} s")
        return value

    @field_validator("public_url", mode="after")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("GENFLOW_PUBLIC_URL must be an http(s) URL such as https://host")
        if parts.query or parts.fragment:
            raise ValueError("GENFLOW_PUBLIC_URL must not have a query or fragment")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_budgets(self) -> Settings:
        if self.generation_token_budget > self.generation_token_budget_max:
            raise ValueError(
                "GENFLOW_GENERATION_TOKEN_BUDGET must not exceed its maximum, "
                "GENFLOW_GENERATION_TOKEN_BUDGET_MAX"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_secrets(self) -> Settings:
        token = self.metrics_token.get_secret_value() if self.metrics_token else None
        if self.environment == "production" and token is not None and len(token) < 32:
            raise ValueError("GENFLOW_METRICS_TOKEN must be at least 32 characters in production")
        return self

    def signing_secret(self) -> str:
        """The JWT secret; MissingSecret (saying what to set) when there is none."""
        return check_secret(self.jwt_secret.get_secret_value() if self.jwt_secret else None)

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: `DATABASE_URL`, or the SQLite file in the home dir."""
        url = self.database_url or f"sqlite+aiosqlite:///{(self.home / 'genflow.db').resolve()}"
        for plain, async_driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return async_driver + url[len(plain) :]
        return url

    @property
    def models_allowed(self) -> dict[str, list[str]]:
        """Each provider users may choose, with the models they may ask it for."""
        if self.allowed_models is not None:
            return self.allowed_models
        return {"builtin": ["*"], "openai": [self.openai_model]}

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or "127.0.0.1:7233"

    def absolute(self, path: str) -> str:
        """An API path (`/v1/...`) as clients should follow it: under `public_url`
        when that is set, else the path itself."""
        return f"{self.public_url}{path}" if self.public_url else path
