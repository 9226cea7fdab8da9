"""Reading quotas with Service Quotas: through the cell's role (moto), and the real response
shapes of GetServiceQuota and GetAWSDefaultServiceQuota (Stubber, which moto lacks)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from control_plane.cells.quotas import (
    CellAccess,
    QuotaReadError,
    assume_cell_role,
    read_quotas,
)
from planner.quotas import QUOTAS, QUOTAS_BY_KEY, Scope


def test_vpc_quotas_are_read_in_the_cells_account_through_its_role(aws: None) -> None:
    access = CellAccess("310000000001", "arn:aws:iam::310000000001:role/tenants-cell", "ext-id")
    session = assume_cell_role(access)
    vpc_quotas = [q for q in QUOTAS if q.service_code == "vpc"]

    table = read_quotas(session, ["eu-west-1", "eu-central-1"], vpc_quotas)

    caller = session.client("sts", region_name="us-east-1").get_caller_identity()
    assert caller["Account"] == "310000000001"
    # moto's own VPC defaults, as a new account has them.
    assert table["eu-west-1"]["vpcs"] == 5.0
    assert table["eu-central-1"]["nat-gateways-per-az"] == 5.0
    assert "account" not in table


def _quota(key: str, value: float, region: str = "eu-west-1") -> dict[str, Any]:
    quota = QUOTAS_BY_KEY[key]
    return {
        "Quota": {
            "ServiceCode": quota.service_code,
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": f"arn:aws:servicequotas:{region}:310000000001:"
            f"{quota.service_code}/{quota.quota_code}",
            "QuotaCode": quota.quota_code,
            "QuotaName": quota.title,
            "Value": value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": quota.scope is Scope.ACCOUNT,
        }
    }


class _StubbedSession:
    """Service Quotas as AWS answers a cell whose EIP quota was raised and whose IAM role
    quota was never changed (so only its AWS default exists)."""

    def client(self, service: str, region_name: str) -> Any:
        client = boto3.client(service, region_name=region_name)
        stub = Stubber(client)
        if region_name == "us-east-1":
            stub.add_client_error(
                "get_service_quota",
                service_error_code="NoSuchResourceException",
                service_message="The request failed because the specified service quota "
                "does not exist.",
            )
            stub.add_response(
                "get_aws_default_service_quota",
                _quota("iam-roles", 1000.0, "us-east-1"),
                {"ServiceCode": "iam", "QuotaCode": "L-FE177D64"},
            )
        else:
            stub.add_response(
                "get_service_quota",
                _quota("elastic-ips", 25.0),
                {"ServiceCode": "ec2", "QuotaCode": "L-0263D0A3"},
            )
        stub.activate()
        return client


def test_an_applied_value_wins_and_an_unchanged_quota_falls_back_to_the_default() -> None:
    wanted = [QUOTAS_BY_KEY["elastic-ips"], QUOTAS_BY_KEY["iam-roles"]]

    table = read_quotas(_StubbedSession(), ["eu-west-1"], wanted)  # type: ignore[arg-type]

    assert table == {"account": {"iam-roles": 1000.0}, "eu-west-1": {"elastic-ips": 25.0}}


def test_an_unreadable_quota_is_named_with_the_aws_error() -> None:
    client = boto3.client("service-quotas", region_name="eu-west-1")
    stub = Stubber(client)
    stub.add_client_error(
        "get_service_quota",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform servicequotas:GetServiceQuota",
    )
    stub.activate()

    class OneClient:
        def client(self, service: str, region_name: str) -> Any:
            return client

    with pytest.raises(QuotaReadError) as failure:
        read_quotas(OneClient(), ["eu-west-1"], [QUOTAS_BY_KEY["vpcs"]])  # type: ignore[arg-type]

    assert str(failure.value) == (
        "cannot read quota 'VPCs per Region' (vpc L-F678F1CE) in eu-west-1: "
        "AccessDeniedException: User is not authorized to perform servicequotas:GetServiceQuota"
    )
