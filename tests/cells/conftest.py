"""Fixtures of the cell tests: a registry, the tenant and cell services, moto for AWS.

Service Quotas in moto knows only VPC quotas, with fixed values; `seeded` makes it answer
the values a test chooses (the real `GetServiceQuota` response shape) for every quota.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from control_plane.cells.sandbox_quotas import AWS_DEFAULTS, sandbox_quotas
from control_plane.cells.service import CellService
from control_plane.registry.database import Database, open_database
from control_plane.service import TenantService
from control_plane.settings import Settings
from planner.quotas import QUOTAS_BY_KEY
from planner.stacks import StackFiles
from tests.control_plane.control_plane_helpers import make_settings
from tests.postgres import POSTGRES_URL_VARIABLE, postgres_test_url

Seed = Callable[..., None]


@pytest.fixture(autouse=True)
def _no_tenants_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TENANTS_") and name != POSTGRES_URL_VARIABLE:
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = make_settings(tmp_path)
    if request.param == "sqlite":
        return base
    return base.model_copy(update={"database_url": postgres_test_url("cells")})


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = open_database(settings.registry_url)
    yield db
    db.dispose()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def seeded(aws: None) -> Iterator[Seed]:
    """`seeded(vpcs=3, ...)`: moto answers these quota values (AWS defaults otherwise)."""
    values = dict(AWS_DEFAULTS)

    def seed(**by_key: float) -> None:
        for key, value in by_key.items():
            quota = QUOTAS_BY_KEY[key.replace("_", "-")]
            values[(quota.service_code, quota.quota_code)] = value

    with sandbox_quotas(values):
        yield seed


@pytest.fixture
def cells(database: Database, settings: Settings, aws: None) -> CellService:
    return CellService(database, settings)


@pytest.fixture
def settings_stacks(settings: Settings) -> StackFiles:
    return StackFiles(settings.stacks_dir)


@pytest.fixture
def tenants(database: Database, settings: Settings, settings_stacks: StackFiles) -> TenantService:
    return TenantService(database, settings, settings_stacks)


def add_pool_cell(
    cells: CellService, name: str, account: str, regions: list[str], headroom: int = 0
) -> None:
    cells.add(
        name,
        account_id=account,
        role_arn=f"arn:aws:iam::{account}:role/tenants-cell",
        regions=regions,
        external_id="tenants-control-plane",
        headroom_percent=headroom,
    )


def organization(ou_name: str = "silos") -> str:
    """A moto organization with an organizational unit for silo accounts; its id."""
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    return str(
        client.create_organizational_unit(ParentId=root, Name=ou_name)["OrganizationalUnit"]["Id"]
    )
