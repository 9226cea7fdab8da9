"""Assembles the CrossGuard pack; `pulumi preview --policy-pack policies` runs this file."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The CLI runs this file from the pack directory; the rules import the project's packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.pack import ALL_POLICIES, PACK_NAME

PolicyPack(
    name=PACK_NAME,
    policies=list(ALL_POLICIES),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Security, compliance and plan rules for per-tenant AWS service bundles.",
    provider="aws",
    tags=["aws", "tenants", "cis", "pci-dss", "hipaa", "soc2", "iso-27001"],
)
