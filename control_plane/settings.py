"""Control plane configuration, read from `TENANTS_*` environment variables.

Every path defaults under the local data directory, so `tenantctl` works out of the box
with a SQLite registry and a `file://` state backend; production points `database_url` at
PostgreSQL and `backend_url` at a shared state backend.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


class RunnerMode(StrEnum):
    """Which stack runner the worker uses."""

    AUTO = "auto"
    """Automation API when the `pulumi` CLI is installed, offline plans otherwise."""
    OFFLINE = "offline"
    """Always evaluate offline under mocks and record plans."""
    AUTOMATION = "automation"
    """Always deploy through the Automation API (fails without the CLI)."""


class LogFormat(StrEnum):
    """How the worker and the server write their logs."""

    TEXT = "text"
    JSON = "json"
    """One JSON object per line, with the tenant and job of the line."""


MIN_DRIFT_INTERVAL = timedelta(minutes=1)
MAX_DRIFT_INTERVAL = timedelta(days=30)


class Settings(BaseSettings):
    """Where the registry lives, how tenants get networks and how the queue behaves."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTS_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    data_dir: Path = Path("./data")
    """Local state: the SQLite registry, the `file://` backend and runner workspaces."""
    database_url: str = ""
    """SQLAlchemy URL of the registry; a SQLite file under `data_dir` when empty."""
    stacks_dir: Path | None = None
    """Where `Pulumi.<tenant>.yaml` files are written; the project's `stacks/` when unset."""
    backend_url: str = ""
    """Pulumi state backend; `file://<data_dir>/state` when empty."""
    runner: RunnerMode = RunnerMode.AUTO
    cidr_pool: ipaddress.IPv4Network = ipaddress.IPv4Network("10.64.0.0/10")
    """Private range tenant networks are allocated from (4,096 blocks of /22 by default)."""
    cidr_block_prefix: int = Field(default=22, ge=16, le=22)
    """Size of each tenant's network block allocated from the pool (/16 to /22)."""
    plan_cache_max_mb: int = Field(default=512, ge=1, le=1024 * 1024)
    """Size bound of the plan cache in `<data_dir>/plan-cache`, in MiB."""
    lease_seconds: float = Field(default=60.0, gt=0)
    """How long a worker owns a job without renewing; a crashed worker's job is retaken after."""
    retry_max_attempts: int = Field(default=5, ge=1)
    """Attempts per job before it is marked failed."""
    retry_backoff_seconds: float = Field(default=5.0, ge=0)
    """Delay before the first retry; doubles with every further attempt."""
    retry_backoff_max_seconds: float = Field(default=300.0, ge=0)
    """Upper bound of the retry delay."""
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    """How often an idle worker looks for work."""
    cell_headroom_percent: int = Field(default=10, ge=0, le=90)
    """Share of each cell quota kept free when a cell is added without `--headroom`."""
    silo_organizational_unit: str = Field(
        default="", pattern=r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32})?$"
    )
    """AWS Organizations unit silo accounts are moved into; the organization's root if empty."""
    silo_access_role: str = Field(
        default="OrganizationAccountAccessRole", pattern=r"^[\w+=,.@-]{1,64}$"
    )
    """Role Organizations creates in a silo account for the control plane to assume."""
    drift_interval: timedelta = timedelta(hours=6)
    """How often long-running workers check each deployed tenant for drift (ISO 8601, e.g.
    `PT6H`, or seconds); `0` turns scheduled checks off."""
    policy_config: Path | None = None
    """Pack configuration JSON (`--policy-pack-config` format) every `up` and `preview` uses."""
    log_format: LogFormat = LogFormat.TEXT
    """`text`, or `json`: one object per line carrying the tenant and job."""

    @field_validator("drift_interval", mode="wrap")
    @classmethod
    def _drift_interval(cls, value: object, handler: ValidatorFunctionWrapHandler) -> timedelta:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # plain seconds, as the environment spells them
        try:
            interval: timedelta = handler(value)
        except ValidationError:
            raise ValueError(
                f"{str(value)[:40]!r} is not a duration; use ISO 8601 like PT6H, or seconds"
            ) from None
        if interval != timedelta(0) and not MIN_DRIFT_INTERVAL <= interval <= MAX_DRIFT_INTERVAL:
            raise ValueError(
                f"drift interval {interval} is outside 1 minute to 30 days (ISO 8601 like "
                "PT6H, or seconds; 0 turns scheduled checks off)"
            )
        return interval

    @field_validator("cidr_pool")
    @classmethod
    def _private_pool(cls, pool: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not any(pool.subnet_of(r) for r in _PRIVATE_RANGES):
            raise ValueError(f"{pool} is not in a private range (10/8, 172.16/12, 192.168/16)")
        return pool

    @model_validator(mode="after")
    def _block_fits_pool(self) -> Self:
        if self.cidr_block_prefix < self.cidr_pool.prefixlen:
            raise ValueError(
                f"cidr_block_prefix /{self.cidr_block_prefix} is larger than the pool "
                f"{self.cidr_pool}; use a prefix of /{self.cidr_pool.prefixlen} to /22"
            )
        return self

    @property
    def registry_url(self) -> str:
        """The registry's SQLAlchemy URL (the default SQLite file when none is set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tenants.db').resolve()}"

    @property
    def registry_configured(self) -> bool:
        """Whether there is a registry to read: a database URL, or the default SQLite file
        already there (reading never creates one)."""
        return bool(self.database_url) or (self.data_dir / "tenants.db").is_file()

    @property
    def state_backend_url(self) -> str:
        """The Pulumi backend URL (a `file://` directory in the data dir when none is set)."""
        if self.backend_url:
            return self.backend_url
        return f"file://{(self.data_dir / 'state').resolve()}"
