"""`tenantctl demo`: billing events drive one tenant through its whole life, end to end."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from control_plane.demo import Demo


def test_demo_runs_the_whole_lifecycle_from_signed_billing_events(tmp_path: Path) -> None:
    buffer = io.StringIO()
    Demo(tmp_path, Console(file=buffer, width=240, emoji=False)).run()
    output = buffer.getvalue()

    expected_in_order = [
        "customer.subscription.created",
        "reconcile create (plan starter in eu-central-1): queued",
        "demo-co: state active (plan), plan starter, spec v1",
        "reconcile change-plan (starter -> pro): queued",
        "demo-co: state active (plan), plan pro, spec v2",
        "invoice.payment_failed",
        "demo-co: state active (plan), plan pro, spec v2, 0 job(s) run",  # grace period
        "reconcile suspend (payment overdue): queued",
        "demo-co: state suspended (plan)",
        "reconcile resume (payment settled): queued",
        "demo-co: state active (plan), plan pro, spec v4",
        "the customer adds a phone line",
        "demo-co: state active (plan), plan pro, spec v5, 1 job(s) run",
        "phone lines: +",
        "Telephony ",
        "1 line (",
        "Total (USD)",
        "reconcile delete (data stores retained): queued",
        "demo-co: state retired (plan)",
        "retained: Bucket demo-co-data-",
    ]
    position = 0
    for fragment in expected_in_order:
        found = output.find(fragment, position)
        assert found >= 0, f"missing after position {position}: {fragment!r}\n{output}"
        position = found
    assert "policy pack: 0 mandatory violation(s)" in output
    assert "plan, nothing deployed" in output
    html = (tmp_path / "invoice.html").read_text()
    assert html.count("Pro plan") >= 1 and "Telephony" in html
    assert "HTTP 200" in output and "Traceback" not in output
