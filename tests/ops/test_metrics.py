"""`/metrics`: the fleet and the queue as Prometheus sees them, and the shipped alert rules
and dashboard referring only to metrics the server exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from control_plane.billing.reconcile import ReconcileStep, StepOutcome
from control_plane.ops.metrics import ServerMetrics
from control_plane.registry.database import Database
from control_plane.service import TenantService
from tests.control_plane.control_plane_helpers import FailingRunner, spec_data

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Drain = Callable[..., None]


def _scrape(metrics: ServerMetrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    app = FastAPI()
    metrics.mount(app)
    response = TestClient(app).get("/metrics/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def test_the_fleet_and_the_queue_are_scraped(
    service: TenantService, database: Database, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    service.create(spec_data("globex", plan="pro"), actor="ops")
    drain()
    service.create(spec_data("initech"), actor="ops")
    metrics = ServerMetrics(database)
    refused = ReconcileStep("a", "sub_a", "create", "", error="taken", outcome=StepOutcome.REFUSED)
    failed = ReconcileStep("b", "sub_b", "create", "", error="db", outcome=StepOutcome.FAILED)
    repeated = ReconcileStep("c", "sub_c", "create", "", error="db", repeated=True)
    metrics.reconciler_pass([refused, failed, repeated, ReconcileStep("d", "sub_d", "scale", "")])
    metrics.reconciler_pass(None)  # a pass that could not run

    samples = _scrape(metrics)

    tenants = samples["tenants_tenants"]
    assert tenants[(("plan", "starter"), ("state", "active"))] == 1
    assert tenants[(("plan", "pro"), ("state", "active"))] == 1
    assert tenants[(("plan", "starter"), ("state", "pending"))] == 1
    assert samples["tenants_queue_depth"][()] == 1
    assert samples["tenants_queue_oldest_job_age_seconds"][()] >= 0
    assert samples["tenants_jobs"][(("kind", "provision"), ("status", "succeeded"))] == 2
    durations = samples["tenants_job_duration_seconds_count"]
    assert durations[(("kind", "provision"),)] == 2
    assert samples["tenants_billing_reconciler_passes_total"][()] == 1
    assert samples["tenants_billing_reconciler_errors_total"][()] == 3
    assert samples["tenants_billing_reconciler_last_pass_timestamp_seconds"][()] > 0


def test_failed_tenants_are_counted(
    service: TenantService, database: Database, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain(FailingRunner("boom", retryable=False))
    samples = _scrape(ServerMetrics(database))
    assert samples["tenants_tenants"][(("plan", "starter"), ("state", "failed"))] == 1
    assert samples["tenants_jobs"][(("kind", "provision"), ("status", "failed"))] == 1


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported_names(database: Database) -> set[str]:
    """Every sample name the server can export, including families with no sample yet."""
    app = FastAPI()
    ServerMetrics(database).mount(app)
    text = TestClient(app).get("/metrics/").text
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES[family.type]
    }


def _referenced(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in re.findall(r"\btenants_[a-z_]+", expr)}


def test_alert_rules_and_dashboard_use_exported_metrics(
    service: TenantService, database: Database, drain: Drain
) -> None:
    service.create(spec_data("acme"), actor="ops")
    drain()
    exported = _exported_names(database)
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]

    assert {a["alert"] for a in alerts} >= {
        "TenantFailed",
        "JobQueueStuck",
        "BillingReconcilerDead",
    }
    assert _referenced([a["expr"] for a in alerts]) <= exported
    assert _referenced(queries) <= exported


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(DEPLOY / "prometheus-alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
