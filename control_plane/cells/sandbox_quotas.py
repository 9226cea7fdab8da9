"""Service Quotas in the local moto sandbox.

moto answers `GetServiceQuota` only for VPC quotas, with fixed values. While the sandbox
runs, the quotas a bundle consumes answer with AWS's defaults for a new account (or the
values given), so `tenantctl cells add` measures a sandbox account like a real one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from planner.quotas import QUOTAS

QuotaValues = Mapping[tuple[str, str], float]
"""Values by (service code, quota code)."""

AWS_DEFAULTS: QuotaValues = {(q.service_code, q.quota_code): q.aws_default for q in QUOTAS}


@contextmanager
def sandbox_quotas(values: QuotaValues = AWS_DEFAULTS) -> Iterator[None]:
    """While inside, moto's Service Quotas (in this process) answers `values` first."""
    from moto.servicequotas.models import ServiceQuotasBackend  # noqa: PLC0415 (sandbox only)

    original = ServiceQuotasBackend.get_service_quota
    titles = {(q.service_code, q.quota_code): q.title for q in QUOTAS}

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        value = values.get((service_code, quota_code))
        if value is None:
            return original(self, service_code, quota_code)
        # The shape GetServiceQuota returns (`Quota` member of the response).
        return {
            "ServiceCode": service_code,
            "ServiceName": service_code,
            "QuotaArn": (
                f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:"
                f"{service_code}/{quota_code}"
            ),
            "QuotaCode": quota_code,
            "QuotaName": titles.get((service_code, quota_code), quota_code),
            "Value": float(value),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    ServiceQuotasBackend.get_service_quota = get_service_quota  # type: ignore[method-assign]
    try:
        yield
    finally:
        ServiceQuotasBackend.get_service_quota = original  # type: ignore[method-assign]
