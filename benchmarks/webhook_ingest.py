"""Webhook ingest throughput and latency, durable (SQLite registry, WAL).

The webhook runs under uvicorn in its own process on 127.0.0.1 with the SQL billing store
on a fresh SQLite file; this process sends N distinct pre-signed subscription events with
bounded concurrency and prints accepted events per second and p50/p99 latency, then
checks that every accepted event is in the database.

    .venv/bin/python -m benchmarks.webhook_ingest --events 3000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import func, select

from components.plans import PlanName
from control_plane.billing.app import create_app
from control_plane.billing.samples import encode, subscription_event
from control_plane.billing.settings import BillingSettings
from control_plane.billing.signature import signature_header
from control_plane.billing.store import SqlBillingStore
from control_plane.registry.billing_models import BillingEventRecord
from control_plane.registry.database import open_database

SECRET = "whsec_benchmark_secret"
PLANS = tuple(PlanName)


def _serve(sock: socket.socket, database_url: str) -> None:
    database = open_database(database_url)
    app = create_app(BillingSettings(webhook_secrets=(SECRET,)), SqlBillingStore(database))
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _bodies(count: int) -> list[tuple[bytes, dict[str, str]]]:
    now = int(time.time())
    out = []
    for i in range(count):
        body = encode(
            subscription_event(
                "customer.subscription.created",
                event_id=f"evt_1Bench{i:07d}",
                created=now,
                subscription_id=f"sub_1Bench{i:07d}",
                tenant_id=f"bench-{i:07d}",
                plan=PLANS[i % len(PLANS)],
            )
        )
        out.append(
            (
                body,
                {
                    "Stripe-Signature": signature_header(body, (SECRET,), now),
                    "Content-Type": "application/json",
                },
            )
        )
    return out


async def _wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(200):
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the webhook did not become ready within 10 s")


async def _run(
    base_url: str, events: int, concurrency: int, server_pid: int
) -> tuple[float, list[float], int, float, float]:
    deliveries = _bodies(events)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    accepted = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # Nagle's algorithm off on the client too: the body follows the headers in a second write.
    transport = httpx.AsyncHTTPTransport(
        limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30.0) as client:
        await _wait_ready(client)

        async def deliver(body: bytes, headers: dict[str, str]) -> None:
            nonlocal accepted
            async with gate:
                started = time.perf_counter()
                response = await client.post("/hooks/billing", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code == 200 and response.json()["status"] == "recorded":
                    accepted += 1

        server_cpu = _cpu_seconds(server_pid)
        client_cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(deliver(body, headers) for body, headers in deliveries))
        elapsed = time.perf_counter() - started
        server_cpu = _cpu_seconds(server_pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
    return elapsed, latencies, accepted, server_cpu, client_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="distinct events to send")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    args = parser.parse_args()
    if not 1 <= args.events <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("--events must be 1-100000 and --concurrency 1-256")

    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'registry.db'}"
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for
        # sockets that say so, and without it every response waits for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = multiprocessing.get_context("fork").Process(
            target=_serve, args=(sock, database_url), daemon=True
        )
        server.start()
        try:
            assert server.pid is not None
            elapsed, latencies, accepted, server_cpu, client_cpu = asyncio.run(
                _run(f"http://127.0.0.1:{port}", args.events, args.concurrency, server.pid)
            )
        finally:
            server.terminate()
            server.join(timeout=10)
        database = open_database(database_url)
        with database.transaction() as session:
            stored = session.scalar(select(func.count()).select_from(BillingEventRecord))
        database.dispose()

    cuts = statistics.quantiles(latencies, n=100)
    print(f"events sent:        {args.events} (concurrency {args.concurrency})")
    print(f"accepted (2xx):     {accepted}; durably stored: {stored}")
    print(f"throughput:         {accepted / elapsed:,.0f} events/s over {elapsed:.2f} s")
    print(f"latency p50 / p99:  {cuts[49] * 1000:.1f} ms / {cuts[98] * 1000:.1f} ms")
    print(f"latency max:        {max(latencies) * 1000:.1f} ms")
    per_event = server_cpu / max(accepted, 1)
    print(
        f"server CPU:         {per_event * 1000:.2f} ms per event "
        f"(one core would sustain ~{1 / per_event:,.0f} events/s with no other load)"
    )
    print(f"client CPU:         {client_cpu / max(accepted, 1) * 1000:.2f} ms per event")
    print(f"machine load (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
