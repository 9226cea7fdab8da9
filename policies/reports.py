"""Report formats of `tenantctl check`: text, JSON, SARIF 2.1.0 and JUnit XML.

Text and JSON group findings by tenant; SARIF feeds code scanning (one rule per policy,
results located at the tenant's stack file); JUnit shows one test case per policy per
tenant, so CI dashboards list which rules failed where.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from policies.fleet import GATE_RULES
from policies.frameworks import Control, Framework, controls_of
from policies.gate import Finding
from policies.pack import ALL_POLICIES, PACK_NAME
from policies.runner import CheckResult, TenantReport

TOOL_NAME = "tenantctl-check"
TOOL_VERSION = "0.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"


@dataclass(frozen=True)
class RuleInfo:
    """Metadata of a pack policy or a gate rule, as the reports show it."""

    name: str
    description: str
    severity: str
    enforcement: str
    remediation: str
    controls: tuple[Control, ...]


def rule_catalog() -> list[RuleInfo]:
    """Every rule the gate can report: the pack's policies, then the gate's own rules."""
    rules = [
        RuleInfo(
            name=p.name,
            description=p.description,
            severity=p.severity.value if p.severity else "medium",
            enforcement=p.enforcement_level.value if p.enforcement_level else "mandatory",
            remediation=p.remediation_steps or "",
            controls=controls_of(p),
        )
        for p in ALL_POLICIES
    ]
    rules += [
        RuleInfo(r.name, r.description, r.severity.value, "mandatory", r.remediation, r.controls)
        for r in GATE_RULES
    ]
    return rules


def _sorted(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (not f.mandatory, _SEVERITY_ORDER.get(f.severity, 9), f.policy, f.message),
    )


@dataclass(frozen=True)
class ControlStatus:
    """Whether one control holds for one tenant, and which rules decide it."""

    control: Control
    status: str
    """`pass`, `fail` or `not-evaluated` (its rules were disabled or the stack did not plan)."""
    rules: tuple[str, ...]


def framework_summary(report: TenantReport, frameworks: Sequence[Framework]) -> list[ControlStatus]:
    """Per control of the chosen frameworks: pass, fail or not evaluated, for one tenant."""
    rules_by_control: dict[Control, list[str]] = {}
    gate_rules = {r.name for r in GATE_RULES}
    for rule in rule_catalog():
        for control in rule.controls:
            if control.framework in frameworks:
                rules_by_control.setdefault(control, []).append(rule.name)
    failed = {f.policy for f in report.findings}
    ran = set(report.evaluated) | gate_rules
    statuses = []
    for control in sorted(rules_by_control, key=_control_key):
        rules = rules_by_control[control]
        if any(r in failed for r in rules):
            status = "fail"
        elif report.evaluated and any(r in ran for r in rules):
            status = "pass"
        else:
            status = "not-evaluated"
        statuses.append(ControlStatus(control, status, tuple(rules)))
    return statuses


def _control_key(control: Control) -> tuple[int, list[Any]]:
    parts = [int(p) if p.isdigit() else p for p in control.control.replace("(", ".").split(".")]
    return (list(Framework).index(control.framework), [(isinstance(p, str), p) for p in parts])


def render(result: CheckResult, fmt: ReportFormat, frameworks: Sequence[Framework] = ()) -> str:
    if fmt is ReportFormat.JSON:
        return render_json(result, frameworks)
    if fmt is ReportFormat.SARIF:
        return render_sarif(result, frameworks)
    if fmt is ReportFormat.JUNIT:
        return render_junit(result)
    return render_text(result, frameworks)


def _counts(findings: Sequence[Finding]) -> tuple[int, int]:
    mandatory = sum(f.mandatory for f in findings)
    return mandatory, len(findings) - mandatory


def render_text(result: CheckResult, frameworks: Sequence[Framework] = ()) -> str:
    lines: list[str] = []
    for report in result.tenants:
        mandatory, advisory = _counts(report.findings)
        verdict = "PASS" if report.passed else "FAIL"
        lines.append(
            f"{report.tenant}: {verdict} ({report.resource_count} resources, "
            f"{len(report.evaluated)} policies; {mandatory} mandatory, {advisory} advisory)"
        )
        for f in _sorted(report.findings):
            lines.append(f"  [{f.enforcement}] [{f.severity}] {f.policy}")
            lines.append("      " + f.message.replace("\n", "\n      "))
            if f.remediation:
                lines.append(f"      fix: {f.remediation}")
        for framework in frameworks:
            statuses = framework_summary(report, (framework,))
            passing = sum(s.status == "pass" for s in statuses)
            lines.append(
                f"  {framework.full_name} {framework.version}: "
                f"{passing}/{len(statuses)} controls pass"
            )
            for s in statuses:
                lines.append(
                    f"    {s.status.upper():<13} {s.control.control:<22} {', '.join(s.rules)}"
                )
    failed = [r.tenant for r in result.tenants if not r.passed]
    mandatory, advisory = _counts(result.findings)
    lines.append(
        f"{len(result.tenants)} tenant(s) checked, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + f"; {mandatory} mandatory and {advisory} advisory violation(s)"
    )
    return "\n".join(lines) + "\n"


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "policy": f.policy,
        "enforcement": f.enforcement,
        "severity": f.severity,
        "message": f.message,
        "description": f.description,
        "remediation": f.remediation,
        "resource": {"type": f.resource_type, "name": f.resource_name, "urn": f.urn},
        "controls": [c.tag.removeprefix("framework:") for c in f.controls],
    }


def render_json(result: CheckResult, frameworks: Sequence[Framework] = ()) -> str:
    mandatory, advisory = _counts(result.findings)
    tenants = []
    for report in result.tenants:
        entry: dict[str, Any] = {
            "tenant": report.tenant,
            "stackFile": report.stack_file,
            "passed": report.passed,
            "resourceCount": report.resource_count,
            "policiesEvaluated": len(report.evaluated),
            "planSeconds": round(report.plan_seconds, 4),
            "policySeconds": round(report.policy_seconds, 4),
            "findings": [_finding_json(f) for f in _sorted(report.findings)],
            "notApplicable": [
                {"policy": n.policy, "urn": n.urn, "reason": n.reason}
                for n in report.not_applicable
            ],
        }
        if frameworks:
            entry["frameworks"] = {
                fw.value: [
                    {"control": s.control.control, "status": s.status, "policies": list(s.rules)}
                    for s in framework_summary(report, (fw,))
                ]
                for fw in frameworks
            }
        tenants.append(entry)
    head = {
        "pack": PACK_NAME,
        "passed": result.passed,
        "summary": {
            "tenants": len(result.tenants),
            "failedTenants": [r.tenant for r in result.tenants if not r.passed],
            "mandatory": mandatory,
            "advisory": advisory,
        },
    }
    return _one_entry_per_line(head, "tenants", tenants)


def _one_entry_per_line(head: dict[str, Any], key: str, entries: list[Any]) -> str:
    """`head` indented, then `key` with one entry per line: still easy to read and to diff
    tenant by tenant, and written by the C encoder (indenting every nested field takes the
    pure-Python one, ten times slower on a fleet's report)."""
    if not entries:
        return json.dumps({**head, key: []}, indent=2) + "\n"
    opening = json.dumps(head, indent=2).removesuffix("\n}")
    lines = ",\n    ".join(json.dumps(entry, separators=(", ", ": ")) for entry in entries)
    return f"{opening},\n  {json.dumps(key)}: [\n    {lines}\n  ]\n}}\n"


def _artifact_uri(path: str) -> str:
    """The stack file relative to the working directory (the repository root in CI)."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_uri()


def render_sarif(result: CheckResult, frameworks: Sequence[Framework] = ()) -> str:
    rules = rule_catalog()
    index = {rule.name: i for i, rule in enumerate(rules)}
    sarif_rules = [
        {
            "id": rule.name,
            "name": "".join(part.capitalize() for part in rule.name.split("-")),
            "shortDescription": {"text": rule.description},
            "fullDescription": {"text": rule.description},
            "help": {"text": rule.remediation or rule.description},
            "defaultConfiguration": {
                "level": "error" if rule.enforcement == "mandatory" else "warning"
            },
            "properties": {
                "tags": ["security", *(c.tag.removeprefix("framework:") for c in rule.controls)],
                "security-severity": _SECURITY_SEVERITY.get(rule.severity, "5.5"),
                "precision": "high",
                "problem.severity": "error" if rule.severity in ("critical", "high") else "warning",
            },
        }
        for rule in rules
    ]
    results = []
    for report in result.tenants:
        uri = _artifact_uri(report.stack_file)
        for f in _sorted(report.findings):
            location: dict[str, Any] = {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": 1},
                }
            }
            if f.urn:
                location["logicalLocations"] = [
                    {
                        "name": f.resource_name or f.urn,
                        "fullyQualifiedName": f.urn,
                        "kind": "resource",
                    }
                ]
            fingerprint = hashlib.sha256(
                f"{f.tenant}|{f.policy}|{f.urn}|{f.message}".encode()
            ).hexdigest()
            results.append(
                {
                    "ruleId": f.policy,
                    "ruleIndex": index[f.policy],
                    "level": "error" if f.mandatory else "warning",
                    "message": {"text": f"{f.tenant}: {f.message}"},
                    "locations": [location],
                    "partialFingerprints": {"tenantFinding/v1": fingerprint},
                    "properties": {
                        "tenant": f.tenant,
                        "severity": f.severity,
                        "enforcement": f.enforcement,
                    },
                }
            )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": TOOL_VERSION,
                "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
                "rules": sarif_rules,
            }
        },
        "automationDetails": {"id": f"{TOOL_NAME}/"},
        "results": results,
    }
    if frameworks:
        run["properties"] = {
            "frameworks": {
                r.tenant: {
                    fw.value: {s.control.control: s.status for s in framework_summary(r, (fw,))}
                    for fw in frameworks
                }
                for r in result.tenants
            }
        }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"


def render_junit(result: CheckResult) -> str:
    catalog = [r.name for r in rule_catalog()]
    suites = ET.Element("testsuites", name=TOOL_NAME)
    total = failures = skipped = 0
    for report in result.tenants:
        by_policy: dict[str, list[Finding]] = {}
        for f in report.findings:
            by_policy.setdefault(f.policy, []).append(f)
        suite = ET.SubElement(suites, "testsuite", name=report.tenant)
        cases = failed = skips = 0
        ran = set(report.evaluated)
        for name in catalog:
            if name not in ran and name not in by_policy:
                if report.evaluated:
                    continue  # gate rules that found nothing, or disabled policies
                case = ET.SubElement(suite, "testcase", classname=report.tenant, name=name)
                ET.SubElement(case, "skipped", message="the stack could not be planned")
                cases += 1
                skips += 1
                continue
            case = ET.SubElement(suite, "testcase", classname=report.tenant, name=name)
            cases += 1
            found = by_policy.get(name, [])
            mandatory = [f for f in found if f.mandatory]
            if mandatory:
                failed += 1
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=f"{len(mandatory)} mandatory violation(s) of {name}",
                    type=mandatory[0].severity,
                )
                failure.text = "\n".join(f"{f.message}\nfix: {f.remediation}" for f in mandatory)
            advisory = [f for f in found if not f.mandatory]
            if advisory:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(f"advisory: {f.message}" for f in advisory)
        suite.set("tests", str(cases))
        suite.set("failures", str(failed))
        suite.set("errors", "0")
        suite.set("skipped", str(skips))
        total, failures, skipped = total + cases, failures + failed, skipped + skips
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", "0")
    suites.set("skipped", str(skipped))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
