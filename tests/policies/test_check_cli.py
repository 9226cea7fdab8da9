"""`tenantctl check` over the example stacks and the deliberately broken ones, in every format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import typer
from typer.testing import CliRunner

from control_plane.cli import check

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "stacks"
BROKEN = Path(__file__).resolve().parent / "broken"
BROKEN_STACKS = BROKEN / "stacks"
LEAKY_PLAN = BROKEN / "plan-leaky.json"
SARIF_SCHEMA = Path(__file__).resolve().parent / "sarif-schema-2.1.0.json"

# Every planned bundle holds a secret without rotation: an advisory finding, never a failure.
ROTATION = "aws-secretsmanager-secret-missing-rotation"
EXPECTED_BROKEN: dict[str, set[str]] = {
    "steady": {ROTATION},
    "openssh": {
        "aws-vpc-security-group-disallow-public-ingress",
        "fleet-network-disallow-overlapping-cidrs",
        "fleet-tenant-disallow-duplicate-ids",
        ROTATION,
    },
    "overlap": {"fleet-network-disallow-overlapping-cidrs", ROTATION},
    "badspec": {"tenant-stack-configure-valid-spec"},
    "clone": {"tenant-stack-configure-valid-spec", "fleet-tenant-disallow-duplicate-ids"},
}
FAILING = {t: p - {ROTATION} for t, p in EXPECTED_BROKEN.items()}


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """tenantctl"""

    check.register(app)
    return app


@pytest.fixture(autouse=True, scope="module")
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The plan cache of these runs lives in a scratch data directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TENANTS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        patch.delenv("TENANTS_STACKS_DIR", raising=False)
        yield


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(_app(), ["check", *args], env=env)


@cache
def broken(fmt: str) -> tuple[int, str]:
    result = run("--all", "--stacks-dir", str(BROKEN_STACKS), "--format", fmt, "--workers", "1")
    return result.exit_code, result.stdout


def test_example_stacks_pass_every_mandatory_policy() -> None:
    result = run("--all", "--stacks-dir", str(EXAMPLES), "--format", "json", "--workers", "2")
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert len(report["tenants"]) == len(list(EXAMPLES.glob("Pulumi.*.yaml"))) >= 3
    for tenant in report["tenants"]:
        assert tenant["resourceCount"] > 20
        assert tenant["policiesEvaluated"] >= 30
        assert [f for f in tenant["findings"] if f["enforcement"] == "mandatory"] == []


def test_text_report_groups_findings_by_tenant() -> None:
    code, out = broken("text")
    assert code == 1
    sections: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        if line and not line.startswith(" ") and ":" in line and "checked" not in line:
            current = line.split(":")[0]
            sections[current] = line
        elif current:
            sections[current] += "\n" + line
    assert set(sections) == set(EXPECTED_BROKEN)
    assert sections["steady"].startswith("steady: PASS")
    for tenant, policies in EXPECTED_BROKEN.items():
        for policy in policies:
            assert policy in sections[tenant], (tenant, policy)
    assert (
        "SecurityGroupIngressRule 'openssh-network-app-ingress-1' allows ingress on port 22 "
        "from 0.0.0.0/0" in sections["openssh"]
    )
    assert (
        "compute.instance_type: instance type 'm6i.large' is not allowed on plan 'free'"
        in sections["badspec"]
    )
    assert "fix: Allocate a free CIDR" in sections["overlap"]
    assert out.rstrip().endswith(
        "4 failed (badspec, clone, openssh, overlap); 7 mandatory and 3 advisory violation(s)"
    )


def test_json_report_names_the_policies() -> None:
    code, out = broken("json")
    assert code == 1
    report = json.loads(out)
    assert report["passed"] is False
    found = {t["tenant"]: {f["policy"] for f in t["findings"]} for t in report["tenants"]}
    assert found == EXPECTED_BROKEN
    [ingress] = [
        f
        for t in report["tenants"]
        for f in t["findings"]
        if f["policy"] == "aws-vpc-security-group-disallow-public-ingress"
    ]
    assert ingress["resource"]["name"] == "openssh-network-app-ingress-1"
    assert ingress["severity"] == "critical"
    assert "cis-aws:5.2" in ingress["controls"]


def test_sarif_report_validates_and_locates_findings() -> None:
    code, out = broken("sarif")
    assert code == 1
    document = json.loads(out)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(document)
    [run_] = document["runs"]
    rules = run_["tool"]["driver"]["rules"]
    results = run_["results"]
    by_tenant: dict[str, set[str]] = {t: set() for t in EXPECTED_BROKEN}
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == ("warning" if result["ruleId"] == ROTATION else "error")
        tenant = result["properties"]["tenant"]
        by_tenant[tenant].add(result["ruleId"])
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.endswith(f"Pulumi.{tenant}.yaml")
    assert by_tenant == EXPECTED_BROKEN


def test_junit_report_fails_the_right_cases() -> None:
    code, out = broken("junit")
    assert code == 1
    suites = ET.fromstring(out)
    failures = {
        suite.get("name"): {c.get("name") for c in suite if c.find("failure") is not None}
        for suite in suites
    }
    assert failures == FAILING
    assert int(suites.get("failures", "0")) == sum(len(p) for p in FAILING.values())
    openssh = next(s for s in suites if s.get("name") == "openssh")
    assert int(openssh.get("tests", "0")) >= 50


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit"])
def test_broken_plan_file_is_caught_in_every_format(fmt: str) -> None:
    result = run("--plan-file", str(LEAKY_PLAN), "--format", fmt)
    assert result.exit_code == 1
    expected = {
        "aws-s3-bucket-disallow-public-acl",
        "aws-s3-bucket-enforce-kms-encryption",
        "aws-kms-key-enable-rotation",
        "aws-ec2-launch-template-enforce-imdsv2",
        "aws-ec2-launch-template-disallow-secrets-in-user-data",
        "aws-iam-policy-disallow-admin-access",
        "aws-iam-role-disallow-wildcard-trust",
        "aws-rds-instance-disallow-public-access",
        "tenant-instance-type-enforce-plan",
        "tenant-iam-policy-enforce-isolation",
        "tenant-resource-disallow-default-provider",
    }
    for policy in expected:
        assert policy in result.stdout, policy
    if fmt == "sarif":
        jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(
            json.loads(result.stdout)
        )


def test_framework_summary() -> None:
    result = run(
        "openssh",
        "--stacks-dir",
        str(BROKEN_STACKS),
        "--frameworks",
        "cis-aws,soc2",
        "--format",
        "json",
        "--workers",
        "1",
    )
    assert result.exit_code == 1
    [tenant] = json.loads(result.stdout)["tenants"]
    cis = {c["control"]: c["status"] for c in tenant["frameworks"]["cis-aws"]}
    assert cis["5.2"] == "fail"
    assert cis["2.1.1"] == "pass"
    assert set(tenant["frameworks"]) == {"cis-aws", "soc2"}
    text = run("badspec", "--stacks-dir", str(BROKEN_STACKS), "--frameworks", "pci-dss")
    assert "controls pass" in text.stdout
    assert "NOT-EVALUATED" in text.stdout  # a stack that does not plan proves nothing


def test_policy_config_changes_enforcement(tmp_path: Path) -> None:
    config = tmp_path / "pack.json"
    config.write_text(
        json.dumps(
            {
                "aws-vpc-security-group-disallow-public-ingress": {
                    "enforcementLevel": "advisory",
                    "allowedPorts": [443],
                }
            }
        )
    )
    result = run(
        "openssh",
        "--stacks-dir",
        str(BROKEN_STACKS),
        "--policy-config",
        str(config),
        "--format",
        "json",
    )
    [tenant] = json.loads(result.stdout)["tenants"]
    levels = {f["policy"]: f["enforcement"] for f in tenant["findings"]}
    assert levels["aws-vpc-security-group-disallow-public-ingress"] == "advisory"


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "check.sarif"
    result = run("steady", "--stacks-dir", str(BROKEN_STACKS), "-f", "sarif", "-o", str(target))
    assert result.exit_code == 0
    assert json.loads(target.read_text())["version"] == "2.1.0"
    assert "1 tenant(s) checked, passed; report:" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name one or more tenants, pass --all, --changed-since or --plan-file; known: acme"),
        (("acme", "--all"), "name tenants, or pass --all or --changed-since, not both"),
        (("acme", "--changed-since", "HEAD"), "name tenants, or pass --all or --changed-since"),
        (("nobody",), "unknown tenant 'nobody'; known tenants: acme"),
        (("acme", "--frameworks", "nist"), "unknown framework 'nist'"),
        (("acme", "--format", "html"), "Invalid value for '--format'"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run(*args, "--stacks-dir", str(EXAMPLES))
    assert result.exit_code == 2
    assert message in result.stderr


def test_bad_policy_config_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "pack.json"
    config.write_text(json.dumps({"aws-nope": "advisory"}))
    result = run("acme", "--stacks-dir", str(EXAMPLES), "--policy-config", str(config))
    assert result.exit_code == 2
    assert "unknown policy 'aws-nope'" in result.stderr
