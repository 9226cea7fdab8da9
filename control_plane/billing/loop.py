"""The reconciler's thread in `tenantctl billing serve`: a pass every interval, forever.

No error ends it. A subscription's own failure is kept on its ledger by the reconciler; a
pass that cannot run at all (the database is down) is logged in one line and the next one
waits twice as long, up to the backoff cap, so a dead database is not hammered. The
webhook's `/readyz` asks `running`, so a thread that is gone anyway takes the process out
of service instead of leaving it answering 200 while nothing is provisioned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from control_plane.billing.reconcile import BillingReconciler, ReconcileStep

logger = logging.getLogger(__name__)

THREAD_NAME = "billing-reconciler"


class ReconcilerLoop:
    """Runs `reconciler` every `interval` seconds on a daemon thread until `stop`; the
    requests of each pass go to `on_steps` (by default, new errors go to the log)."""

    def __init__(
        self,
        reconciler: BillingReconciler,
        *,
        interval: float,
        max_backoff: float,
        on_steps: Callable[[list[ReconcileStep]], None] | None = None,
        on_pass: Callable[[list[ReconcileStep] | None], None] | None = None,
    ) -> None:
        self._reconciler = reconciler
        self._interval = interval
        self._max_backoff = max(max_backoff, interval)
        self._on_steps = on_steps or _log_steps
        self._on_pass = on_pass
        """Told of every pass: its steps, or None when it could not run (for metrics)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self.passes = 0
        """Passes completed (read by tests and diagnostics)."""
        self.last_pass_at: float | None = None
        """`time.monotonic()` at the end of the last completed pass."""

    @property
    def running(self) -> bool:
        """The thread is alive and has not been asked to stop."""
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        delay, failed_passes = self._interval, 0
        while not self._stop.wait(delay):
            try:
                steps = self._reconciler.reconcile()
                if steps:
                    self._on_steps(steps)
            except Exception as error:  # noqa: BLE001 - the loop outlives any one pass
                if self._on_pass is not None:
                    self._on_pass(None)
                failed_passes += 1
                delay = min(self._interval * 2**failed_passes, self._max_backoff)
                logger.warning(
                    "billing reconciliation pass failed (%s: %s); next pass in %.0f s",
                    type(error).__name__,
                    str(error).strip().splitlines()[0] if str(error).strip() else "",
                    delay,
                )
                continue
            if failed_passes:
                logger.warning("billing reconciliation passes run again")
            delay, failed_passes = self._interval, 0
            self.passes += 1
            self.last_pass_at = time.monotonic()
            if self._on_pass is not None:
                self._on_pass(steps)


def _log_steps(steps: list[ReconcileStep]) -> None:
    for step in steps:
        if step.error and not step.repeated:
            logger.warning(
                "billing %s of %s for %s %s: %s",
                step.request,
                step.tenant_id,
                step.subscription_id,
                step.outcome.value,
                step.error,
            )
