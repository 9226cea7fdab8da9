"""Cells in the pack and the gate: the provider assumes its cell's role; no cell over a quota."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policies.fleet import (
    CellQuotas,
    CellQuotasError,
    CellUse,
    cell_quota_findings,
    read_cell_quotas,
)
from policies.rules import tenant
from tests.policies.harness import SPEC, TAGS, res, violations
from tests.policies.test_check_cli import EXAMPLES, run

CELL = {
    "name": "eu-pool-1",
    "account_id": "310000000001",
    "role_arn": "arn:aws:iam::310000000001:role/tenants-cell",
    "external_id": "tenants-control-plane",
}
PLACED = {**SPEC, "cell": CELL}
POLICY = tenant.tenant_provider_assume_cell_role


def _provider(*roles: dict[str, Any]) -> Any:
    return res(
        "pulumi:providers:aws",
        "acme-aws",
        {
            "region": "eu-west-1",
            "defaultTags": json.dumps({"tags": TAGS}),
            **({"assumeRoles": json.dumps(list(roles))} if roles else {}),
        },
        provider=None,
    )


GOOD_ROLE = {
    "roleArn": CELL["role_arn"],
    "externalId": CELL["external_id"],
    "sessionName": "tenants-acme-job-7",
}


def test_a_provider_assuming_its_cells_role_passes() -> None:
    assert violations(POLICY, _provider(GOOD_ROLE), with_provider=False, spec=PLACED) == []


@pytest.mark.parametrize(
    ("roles", "spec", "message"),
    [
        (
            [{**GOOD_ROLE, "roleArn": "arn:aws:iam::320000000002:role/tenants-cell"}],
            PLACED,
            "assumes arn:aws:iam::320000000002:role/tenants-cell, not the role of its cell "
            "'eu-pool-1' (arn:aws:iam::310000000001:role/tenants-cell)",
        ),
        ([], PLACED, "assumes no role, not the role of its cell 'eu-pool-1'"),
        (
            [{**GOOD_ROLE, "externalId": None}],
            PLACED,
            "assumes the role of cell 'eu-pool-1' without the cell's external id",
        ),
        (
            [{**GOOD_ROLE, "sessionName": "deploy"}],
            PLACED,
            "with a session name that does not name tenant 'acme'",
        ),
        ([GOOD_ROLE], SPEC, "but the tenant is placed in no cell"),
        ([], {**SPEC, "isolation": "silo"}, "silo tenant that is not placed in its own account"),
    ],
)
def test_a_provider_outside_its_cell_is_reported(
    roles: list[dict[str, Any]], spec: dict[str, Any], message: str
) -> None:
    [found] = violations(POLICY, _provider(*roles), with_provider=False, spec=spec)

    assert message in found


def test_without_a_spec_there_is_nothing_to_compare() -> None:
    assert violations(POLICY, _provider(GOOD_ROLE), with_provider=False) == []


QUOTAS = CellQuotas(
    name="eu-pool-1",
    values={"eu-west-1": {"vpcs": 2.0, "elastic-ips": 5.0}, "account": {"iam-roles": 4.0}},
)


def _use(stack: str, region: str = "eu-west-1", **consumption: int) -> CellUse:
    return CellUse(
        stack, "eu-pool-1", region, {k.replace("_", "-"): v for k, v in consumption.items()}
    )


def test_tenants_within_their_cells_quotas_pass() -> None:
    uses = [_use("acme", vpcs=1, iam_roles=2), _use("globex", vpcs=1)]

    assert cell_quota_findings(uses, [QUOTAS], ["acme", "globex"]) == []


def test_a_cell_over_a_regional_quota_is_reported_on_each_selected_tenant_using_it() -> None:
    uses = [
        _use("acme", vpcs=1),
        _use("globex", vpcs=1),
        _use("initech", vpcs=1),
        _use("hooli", "eu-central-1", vpcs=1),
    ]

    findings = cell_quota_findings(uses, [QUOTAS], ["acme", "initech", "hooli"])

    assert [(f.tenant, f.policy) for f in findings] == [
        ("acme", "fleet-cell-disallow-exceeded-quota"),
        ("initech", "fleet-cell-disallow-exceeded-quota"),
    ]
    assert findings[0].message == (
        "cell 'eu-pool-1': VPCs per Region in eu-west-1 would be 3 of quota 2 "
        "(tenants acme, globex, initech)"
    )


def test_account_wide_quotas_count_every_region() -> None:
    uses = [
        CellUse("acme", "eu-pool-1", "eu-west-1", {"iam-roles": 3}),
        CellUse("hooli", "eu-pool-1", "eu-central-1", {"iam-roles": 2}),
    ]

    [finding] = cell_quota_findings(uses, [QUOTAS], ["hooli"])

    assert "Roles per account in account would be 5 of quota 4" in finding.message


def test_a_cell_missing_from_the_cells_file_is_reported() -> None:
    [finding] = cell_quota_findings(
        [CellUse("acme", "eu-pool-9", "eu-west-1", {})], [QUOTAS], ["acme"]
    )

    assert finding.message == "cell 'eu-pool-9' is not in the cells file (cells: eu-pool-1)"


def _cells_file(tmp_path: Path, cells: list[dict[str, Any]]) -> Path:
    path = tmp_path / "cells.json"
    path.write_text(json.dumps(cells))
    return path


def test_the_cells_file_is_what_cells_list_writes(tmp_path: Path) -> None:
    path = _cells_file(
        tmp_path,
        [
            {
                "name": "eu-pool-1",
                "use": [
                    {"quota": "vpcs", "scope": "eu-west-1", "used": 1, "limit": 1, "value": 2.0},
                    {"quota": "iam-roles", "scope": "account", "used": 2, "limit": 3, "value": 4.0},
                ],
            }
        ],
    )

    assert read_cell_quotas(path) == [
        CellQuotas("eu-pool-1", {"eu-west-1": {"vpcs": 2.0}, "account": {"iam-roles": 4.0}})
    ]
    path.write_text('{"name": "eu-pool-1"}')
    with pytest.raises(CellQuotasError, match="is not a cells file"):
        read_cell_quotas(path)


def test_check_counts_example_stacks_against_their_cells(tmp_path: Path) -> None:
    cells = _cells_file(
        tmp_path,
        [
            {
                "name": "us-pool-1",
                "use": [{"quota": "vpcs", "scope": "us-west-2", "value": 0.0}],
            }
        ],
    )

    result = run("umbrella", "--stacks-dir", str(EXAMPLES), "--cells", str(cells), "--workers", "1")

    assert result.exit_code == 1
    assert "fleet-cell-disallow-exceeded-quota" in result.stdout
    assert "VPCs per Region in us-west-2 would be 1 of quota 0 (tenants umbrella)" in result.stdout
    bad = run("umbrella", "--stacks-dir", str(EXAMPLES), "--cells", str(tmp_path / "none.json"))
    assert bad.exit_code == 2
    assert "is not a cells file" in bad.output
