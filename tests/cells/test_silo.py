"""Silo accounts: vended through AWS Organizations (moto), placed as a cell of one, retained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from control_plane.cells.accounts import AccountVendingError, SiloRequest, vend_account
from control_plane.cells.management import management_stack_file
from control_plane.cells.service import CellError, CellService
from control_plane.queue.worker import Worker
from control_plane.registry.database import Database
from control_plane.service import InvalidSpecError, PlacementRefusedError, TenantService
from control_plane.settings import Settings
from planner.program import plan_management_stack
from planner.stacks import PROJECT_ROOT
from tests.cells.conftest import Seed, organization
from tests.control_plane.control_plane_helpers import RecordingRunner, spec_data


@pytest.fixture
def silo_cells(database: Database, settings: Settings, seeded: Seed) -> tuple[CellService, str]:
    ou = organization()
    silo_settings = settings.model_copy(update={"silo_organizational_unit": ou})
    return CellService(database, silo_settings), ou


def test_a_silo_account_is_vended_into_the_unit_and_becomes_a_cell_of_one(
    silo_cells: tuple[CellService, str], tenants: TenantService
) -> None:
    cells, ou = silo_cells

    view = cells.vend("acme", email="aws+acme@example.com", region="eu-west-1")

    org = boto3.client("organizations", region_name="us-east-1")
    account = org.describe_account(AccountId=view.account_id)["Account"]
    assert account["Name"] == "tenants-acme"
    assert org.list_parents(ChildId=view.account_id)["Parents"][0]["Id"] == ou
    tags = {
        t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=view.account_id)["Tags"]
    }
    assert tags["tenant"] == "acme"
    assert (view.name, view.kind, view.silo_tenant, view.regions) == (
        "silo-acme",
        "silo",
        "acme",
        ["eu-west-1"],
    )
    assert view.role_arn == f"arn:aws:iam::{view.account_id}:role/OrganizationAccountAccessRole"
    # Quotas were read in the new account, through the access role.
    assert {u.quota for u in view.use} >= {"vpcs", "elastic-ips", "iam-roles"}

    tenants.create(spec_data("acme", "enterprise", isolation="silo"), actor="op")
    cell = tenants.show("acme").spec["cell"]
    assert cell == {
        "name": "silo-acme",
        "account_id": view.account_id,
        "role_arn": view.role_arn,
    }
    # A pool tenant never lands in a silo account.
    with pytest.raises(PlacementRefusedError, match="no pool cell serves region 'eu-west-1'"):
        tenants.create(spec_data("globex", "enterprise"), actor="op")
    with pytest.raises(CellError, match="cell 'silo-acme' already exists"):
        cells.vend("acme", email="aws+acme2@example.com", region="eu-west-1")


def test_retiring_a_silo_tenant_keeps_its_account(
    silo_cells: tuple[CellService, str],
    tenants: TenantService,
    database: Database,
    settings: Settings,
) -> None:
    cells, _ = silo_cells
    view = cells.vend("acme", email="aws+acme@example.com", region="eu-west-1")
    tenants.create(spec_data("acme", "enterprise", isolation="silo"), actor="op")
    worker = Worker(database, settings, RecordingRunner())
    worker.drain()
    tenants.delete("acme", actor="op")
    worker.drain()

    assert tenants.show("acme").state == "retired"
    after = cells.show("silo-acme")
    assert after.retained and after.tenants == []
    org = boto3.client("organizations", region_name="us-east-1")
    assert org.describe_account(AccountId=view.account_id)["Account"]["Status"] == "ACTIVE"


def test_a_silo_tenant_needs_its_account_first_and_an_enterprise_plan(
    silo_cells: tuple[CellService, str], tenants: TenantService
) -> None:
    with pytest.raises(PlacementRefusedError, match="vend it with `tenantctl cells vend acme"):
        tenants.create(spec_data("acme", "enterprise", isolation="silo"), actor="op")
    with pytest.raises(InvalidSpecError, match="a silo account is not available on plan 'pro'"):
        tenants.create(spec_data("acme", "pro", isolation="silo"), actor="op")
    assert tenants.tenants() == []


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (("Acme!", "a@example.com", "eu-west-1"), "tenant id 'Acme!' is not a tenant slug"),
        (("acme", "not-an-address", "eu-west-1"), "email 'not-an-address' is not an address"),
        (("acme", "a@example.com", "mars-1"), "unsupported region(s) mars-1; supported: eu-west-1"),
    ],
)
def test_bad_vend_requests_are_refused_before_aws_is_asked(
    database: Database, settings: Settings, request_: tuple[str, str, str], message: str
) -> None:
    tenant, email, region = request_

    def no_aws() -> Any:
        raise AssertionError("Organizations must not be called")

    cells = CellService(database, settings, organizations=no_aws)

    with pytest.raises(CellError, match=message.replace("(", "\\(").replace(")", "\\)")):
        cells.vend(tenant, email=email, region=region)


def _status(state: str, **extra: Any) -> dict[str, Any]:
    # The CreateAccountStatus shape of CreateAccount and DescribeCreateAccountStatus.
    return {
        "CreateAccountStatus": {
            "Id": "car-0123456789abcdef0123456789abcdef",
            "AccountName": "tenants-acme",
            "State": state,
            **extra,
        }
    }


REQUEST = SiloRequest(
    tenant_id="acme",
    email="aws+acme@example.com",
    role_name="OrganizationAccountAccessRole",
    organizational_unit=None,
)


def test_vending_polls_until_the_account_exists() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    polls: list[float] = []
    with Stubber(client) as stub:
        stub.add_response("create_account", _status("IN_PROGRESS"))
        stub.add_response(
            "describe_create_account_status",
            _status("IN_PROGRESS"),
            {"CreateAccountRequestId": "car-0123456789abcdef0123456789abcdef"},
        )
        stub.add_response(
            "describe_create_account_status", _status("SUCCEEDED", AccountId="444455556666")
        )
        access = vend_account(client, REQUEST, poll_seconds=2.0, sleep=polls.append)

    assert access.account_id == "444455556666"
    assert access.role_arn == "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"
    assert polls == [2.0, 2.0]


def test_a_failed_account_request_says_why() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("create_account", _status("IN_PROGRESS"))
        stub.add_response(
            "describe_create_account_status",
            _status("FAILED", FailureReason="EMAIL_ALREADY_EXISTS"),
        )
        with pytest.raises(AccountVendingError, match="failed: EMAIL_ALREADY_EXISTS"):
            vend_account(client, REQUEST, sleep=lambda _: None)


def test_a_refused_account_request_carries_the_aws_error() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error(
            "create_account",
            service_error_code="AWSOrganizationsNotInUseException",
            service_message="Your account is not a member of an organization.",
        )
        with pytest.raises(
            AccountVendingError,
            match="refused the account of 'acme': AWSOrganizationsNotInUseException",
        ):
            vend_account(client, REQUEST)


def test_the_example_management_stack_plans_the_silo_account_offline() -> None:
    plan = plan_management_stack(PROJECT_ROOT / "stacks" / "management" / "Pulumi.silos.yaml")

    [account] = plan.by_type("aws:organizations/account:Account")
    assert account.id == "330000000003"  # adopted by import, not created again
    assert account.inputs == {
        "name": "tenants-acme",
        "email": "aws+acme@acme.example",
        "roleName": "OrganizationAccountAccessRole",
        "iamUserAccessToBilling": "DENY",
        "closeOnDeletion": False,
        "tags": {"tenant": "acme", "managed-by": "tenants-platform"},
    }
    assert account.protect and account.retain_on_delete
    assert plan.stack_outputs["acme_access_role_arn"] == (
        "arn:aws:iam::330000000003:role/OrganizationAccountAccessRole"
    )
    assert plan.warnings == []


def test_vending_lists_the_account_in_the_management_stack(
    silo_cells: tuple[CellService, str], settings: Settings
) -> None:
    cells, ou = silo_cells

    view = cells.vend("acme", email="aws+acme@example.com", region="eu-west-1")

    plan = plan_management_stack(management_stack_file(settings.stacks_dir or Path()))
    [account] = plan.by_type("aws:organizations/account:Account")
    assert (account.id, account.inputs["parentId"]) == (view.account_id, ou)
