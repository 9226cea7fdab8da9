"""The JSON report: one document, its tenants one per line."""

from __future__ import annotations

import json

from policies.reports import ReportFormat, render
from policies.runner import CheckResult, TenantReport


def _report(tenant: str) -> TenantReport:
    return TenantReport(tenant, f"stacks/Pulumi.{tenant}.yaml", (), ("p1", "p2"), (), 12)


def test_each_tenant_is_one_line_of_a_valid_document() -> None:
    result = CheckResult(tuple(_report(t) for t in ("acme", "globex", "initech")))
    text = render(result, ReportFormat.JSON)
    document = json.loads(text)
    assert [t["tenant"] for t in document["tenants"]] == ["acme", "globex", "initech"]
    assert document["summary"]["tenants"] == 3
    entries = [line.strip().rstrip(",") for line in text.splitlines() if '"tenant": ' in line]
    assert [json.loads(entry) for entry in entries] == document["tenants"]


def test_no_tenants_is_an_empty_list() -> None:
    document = json.loads(render(CheckResult(()), ReportFormat.JSON))
    assert document["tenants"] == []
    assert document["summary"]["tenants"] == 0
