"""Compliance frameworks and the controls a policy serves.

A `pulumi_policy.Policy` carries one `framework`; ours serve several, so each control is
also kept as a tag `framework:<id>:<control>` that the offline gate and the reports read
back with `controls_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pulumi_policy import Policy, PolicyComplianceFramework


class Framework(StrEnum):
    """The frameworks the pack maps its policies to."""

    CIS_AWS = "cis-aws"
    PCI_DSS = "pci-dss"
    HIPAA = "hipaa"
    SOC2 = "soc2"
    ISO_27001 = "iso-27001"

    @property
    def full_name(self) -> str:
        return _TITLES[self][0]

    @property
    def version(self) -> str:
        return _TITLES[self][1]


_TITLES: dict[Framework, tuple[str, str]] = {
    Framework.CIS_AWS: ("CIS AWS Foundations Benchmark", "3.0.0"),
    Framework.PCI_DSS: ("PCI DSS", "4.0"),
    Framework.HIPAA: ("HIPAA Security Rule", "45 CFR 164"),
    Framework.SOC2: ("SOC 2 Trust Services Criteria", "2017"),
    Framework.ISO_27001: ("ISO/IEC 27001 Annex A", "2022"),
}

_TAG_PREFIX = "framework:"


@dataclass(frozen=True, order=True)
class Control:
    """One control of one framework, e.g. CIS AWS 2.1.4."""

    framework: Framework
    control: str

    @property
    def tag(self) -> str:
        return f"{_TAG_PREFIX}{self.framework.value}:{self.control}"

    def __str__(self) -> str:
        return f"{self.framework.full_name} {self.control}"


def cis(control: str) -> Control:
    return Control(Framework.CIS_AWS, control)


def pci(control: str) -> Control:
    return Control(Framework.PCI_DSS, control)


def hipaa(control: str) -> Control:
    return Control(Framework.HIPAA, control)


def soc2(control: str) -> Control:
    return Control(Framework.SOC2, control)


def iso(control: str) -> Control:
    return Control(Framework.ISO_27001, control)


def primary_framework(controls: tuple[Control, ...]) -> PolicyComplianceFramework | None:
    """The first control's framework, for the pack metadata's single `framework` field."""
    if not controls:
        return None
    first = controls[0]
    return PolicyComplianceFramework(
        name=first.framework.full_name,
        version=first.framework.version,
        reference=first.control,
    )


def controls_of(policy: Policy) -> tuple[Control, ...]:
    """The controls a policy serves, read back from its tags."""
    found: list[Control] = []
    for tag in policy.tags or ():
        if not tag.startswith(_TAG_PREFIX):
            continue
        framework, _, control = tag.removeprefix(_TAG_PREFIX).partition(":")
        found.append(Control(Framework(framework), control))
    return tuple(found)


def parse_frameworks(names: str) -> tuple[Framework, ...]:
    """`cis-aws,pci-dss` or `all` to frameworks; a `ValueError` lists the known ones."""
    if names.strip().lower() == "all":
        return tuple(Framework)
    chosen: list[Framework] = []
    for raw in names.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        try:
            chosen.append(Framework(name))
        except ValueError:
            known = ", ".join(f.value for f in Framework)
            raise ValueError(f"unknown framework {name!r}; known: {known}, or all") from None
    if not chosen:
        raise ValueError("no framework given; use a comma-separated list or all")
    return tuple(dict.fromkeys(chosen))
