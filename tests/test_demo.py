"""`tenantctl demo`: billing events drive one tenant through a month, end to end, and the
output explains what happened in words that fit a 100-column terminal."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from control_plane.cli import app
from control_plane.cli import demo as demo_cli
from control_plane.demo import Demo, story_month
from policies.pack import ALL_POLICIES


def test_demo_runs_a_month_of_billing_events_and_explains_each_step(tmp_path: Path) -> None:
    buffer = io.StringIO()
    Demo(tmp_path, Console(file=buffer, width=100, emoji=False), today=date(2026, 11, 15)).run()
    output = buffer.getvalue()

    expected_in_order = [
        "One tenant's month (01 Oct 2026 - 31 Oct 2026)",
        "01 Oct: subscription created",
        "signed customer.subscription.created -> webhook HTTP 200 recorded",
        "reconcile create (plan starter in eu-central-1): queued",
        "demo-co: state active (plan), plan starter, spec v1",
        "provision succeeded (plan, nothing deployed): created 72",
        f"bundle of 72 resources; {len(ALL_POLICIES)} policies ran, 0 mandatory violation(s); "
        "the tree: `tenantctl plan`",
        "instances         │ t3.small, min/desired/max 1/1/2",
        "buckets           │ data: demo-co-data-",
        "11 Oct: plan upgraded to pro",
        "reconcile change-plan (starter -> pro): queued",
        "demo-co: state active (plan), plan pro, spec v2",
        "what changed",
        "│ instance type            │ t3.small │ t3.medium │",
        "│ capacity min/desired/max │ 1/1/2    │ 2/2/6     │",
        "changed resources",
        "│ update │ aws ec2 LaunchTemplate",
        "│ update │ aws autoscaling Group",
        "18 Oct: payment failed",
        "demo-co: state active (plan), plan pro, spec v2, 0 job(s) run",  # the grace period
        "21 Oct: grace period over",
        "reconcile suspend (payment overdue): queued",
        "demo-co: state suspended (plan)",
        "25 Oct: invoice paid",
        "reconcile resume (payment settled): queued",
        "demo-co: state active (plan), plan pro, spec v4",
        "27 Oct: the customer adds a phone line (telephony add-on)",
        "demo-co: state active (plan), plan pro, spec v5",
        "phone lines: +",
        "01 Nov: the month is over, its invoice is issued",
        "Invoice INV-202610-0001",
        "Starter plan 01 Oct - 10 Oct (10 of 31 days)",
        "Pro plan 11 Oct - 20 Oct (10 of 31 days)",
        "Pro plan 21 Oct - 24 Oct: suspended",
        "Pro plan 25 Oct - 26 Oct (2 of 31 days)",
        "Pro plan 27 Oct - 31 Oct (5 of 31 days)",
        "Telephony 27 Oct - 31 Oct: 1 line (5 of 31 days)",
        "$180.59",
        "02 Nov: subscription cancelled",
        "reconcile delete (data stores retained): queued",
        "demo-co: state retired (plan)",
        "4 data stores retained",
        "data stores retained",
        "operation log",
    ]
    position = 0
    for fragment in expected_in_order:
        found = output.find(fragment, position)
        assert found >= 0, f"missing after position {position}: {fragment!r}\n{output}"
        position = found
    retained = output[output.index("data stores retained") : output.index("operation log")]
    for row in ("│ Bucket │ demo-co-data-", "│ Secret │ tenants/demo-co/app-", "│ Key    │"):
        assert row in retained
    assert (tmp_path / "invoice.html").read_text().count("Pro plan") >= 1
    # Nothing a newcomer cannot read: no Python reprs, no worker ids, nothing past 100 columns.
    for unreadable in ("{'", "['", "vm:", "Traceback", "None"):
        assert unreadable not in output, unreadable
    assert max(len(line) for line in output.splitlines()) <= 100


def test_the_story_month_is_the_last_complete_one() -> None:
    assert story_month(date(2026, 1, 5)).label == "01 Dec 2025 - 31 Dec 2025"
    assert story_month(date(2026, 3, 31)).days == 28


class _FakeDemo:
    def __init__(self, workdir: Path, console: Console) -> None:
        self.workdir = workdir

    def run(self) -> None:
        (self.workdir / "tenants.db").write_text("registry")


@pytest.mark.parametrize(("keep", "kept"), [([], False), (["--keep"], True)])
def test_the_scratch_directory_is_removed_unless_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keep: list[str], kept: bool
) -> None:
    monkeypatch.setattr(demo_cli, "Demo", _FakeDemo)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    result = CliRunner().invoke(app, ["demo", *keep], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    left = list(tmp_path.glob("tenants-demo-*"))
    assert bool(left) is kept
    if kept:
        assert "--stacks-dir" in result.stdout and (left[0] / "tenants.db").is_file()
    else:
        assert "removed (`--keep` keeps it)" in result.stdout


def test_a_given_workdir_is_left_in_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(demo_cli, "Demo", _FakeDemo)
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "mine")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine" / "tenants.db").is_file()
