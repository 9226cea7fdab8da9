"""The settings form <-> a JSON merge patch of the spec. Lists are edited as lines of text;
a line that does not parse is named with its field and line number. The limits are the
spec's: the service validates the merged spec and names the field and the limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.plans import get_plan
from components.spec import TenantSpec
from control_plane.web.portal.forms import FormError, lines, number

FIELDS = (
    "instance_type",
    "min_size",
    "desired_capacity",
    "max_size",
    "schedules",
    "ingress",
    "alarm_contacts",
    "cpu_high_percent",
    "storage_quota_percent",
    "retention_days",
    "buckets",
)
SCHEDULE_FORMAT = "name | cron recurrence | min | desired | max [| time zone]"
INGRESS_FORMAT = "port[-to port] tcp|udp CIDR description"
BUCKET_FORMAT = "role [unversioned]"


@dataclass(frozen=True)
class Defaults:
    """The plan's values a blank field falls back to."""

    instance_type: str
    min_size: int
    desired_capacity: int
    max_size: int
    instance_types: tuple[str, ...]
    retention_days: int
    retention_range: tuple[int, int]


def defaults(spec: TenantSpec) -> Defaults:
    plan = get_plan(spec.plan)
    d = plan.defaults
    return Defaults(
        d.instance_type,
        d.min_size,
        d.desired_capacity,
        d.max_size,
        plan.limits.instance_types,
        d.retention_days,
        plan.limits.retention_days,
    )


def form_values(spec: TenantSpec) -> dict[str, str]:
    """The form's fields for the current desired spec (blank: the plan's default)."""

    def text(value: object) -> str:
        return "" if value is None else str(value)

    compute, alarms, storage = spec.compute, spec.alarms, spec.storage
    return {
        "instance_type": text(compute.instance_type),
        "min_size": text(compute.min_size),
        "desired_capacity": text(compute.desired_capacity),
        "max_size": text(compute.max_size),
        "schedules": "\n".join(
            " | ".join(
                [s.name, s.recurrence, str(s.min_size), str(s.desired_capacity), str(s.max_size)]
                + ([s.time_zone] if s.time_zone != "UTC" else [])
            )
            for s in compute.schedules
        ),
        "ingress": "\n".join(
            f"{r.port}{f'-{r.to_port}' if r.to_port else ''} {r.protocol} {r.cidr} {r.description}"
            for r in spec.network.ingress
        ),
        "alarm_contacts": "\n".join(alarms.contacts),
        "cpu_high_percent": f"{alarms.cpu_high_percent:g}",
        "storage_quota_percent": f"{alarms.storage_quota_percent:g}",
        "retention_days": text(storage.retention_days),
        "buckets": "\n".join(
            b.role + ("" if b.versioning else " unversioned") for b in storage.buckets
        ),
    }


def to_patch(values: dict[str, str]) -> dict[str, Any]:
    """The merge patch the form asks for; `FormError` names every line that does not parse."""
    problems: list[str] = []
    schedules = []
    for n, line in lines(values["schedules"], "schedules", problems):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) not in (5, 6):
            problems.append(f"schedules line {n}: expected `{SCHEDULE_FORMAT}`")
            continue
        sizes = [number(p, f"schedules line {n}", problems) for p in parts[2:5]]
        schedule: dict[str, Any] = {
            "name": parts[0],
            "recurrence": parts[1],
            "min_size": sizes[0],
            "desired_capacity": sizes[1],
            "max_size": sizes[2],
        }
        if len(parts) == 6:
            schedule["time_zone"] = parts[5]
        schedules.append(schedule)
    ingress = []
    for n, line in lines(values["ingress"], "ingress", problems):
        parts = line.split(maxsplit=3)
        if len(parts) != 4:
            problems.append(f"ingress line {n}: expected `{INGRESS_FORMAT}`")
            continue
        first, _, last = parts[0].partition("-")
        rule: dict[str, Any] = {
            "port": number(first, f"ingress line {n}", problems),
            "protocol": parts[1],
            "cidr": parts[2],
            "description": parts[3],
        }
        if last:
            rule["to_port"] = number(last, f"ingress line {n}", problems)
        ingress.append(rule)
    buckets = []
    for n, line in lines(values["buckets"], "buckets", problems):
        parts = line.split()
        if len(parts) > 2 or (len(parts) == 2 and parts[1] != "unversioned"):
            problems.append(f"buckets line {n}: expected `{BUCKET_FORMAT}`")
            continue
        buckets.append({"role": parts[0], "versioning": len(parts) == 1})
    contacts = [line for _n, line in lines(values["alarm_contacts"], "alarm_contacts", problems)]
    patch = {
        "compute": {
            "instance_type": values["instance_type"].strip() or None,
            "min_size": number(values["min_size"], "compute.min_size", problems),
            "desired_capacity": number(
                values["desired_capacity"], "compute.desired_capacity", problems
            ),
            "max_size": number(values["max_size"], "compute.max_size", problems),
            "schedules": schedules,
        },
        "network": {"ingress": ingress},
        "alarms": {
            "contacts": contacts,
            "cpu_high_percent": number(
                values["cpu_high_percent"], "alarms.cpu_high_percent", problems, float
            ),
            "storage_quota_percent": number(
                values["storage_quota_percent"], "alarms.storage_quota_percent", problems, float
            ),
        },
        "storage": {
            "retention_days": number(values["retention_days"], "storage.retention_days", problems),
            "buckets": buckets,
        },
    }
    if problems:
        raise FormError(problems)
    return patch
