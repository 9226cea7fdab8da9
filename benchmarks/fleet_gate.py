"""The pull-request gate on a synthetic fleet: cold, warm, one stack changed, code changed.

Copies the program, pack and control plane into a scratch directory, writes N synthetic
tenant stacks there (a mix of plans, regions and residencies, tables, schedules, extra
buckets, ingress rules and operator roles), and times `tenantctl check --all` as CI runs
it, each run a fresh process with its own data directory's plan cache:

- cold with 1 process and with 2 (both without a cache: the ratio),
- cold with the cache (filling it), warm (nothing changed), one stack file changed (with
  `--all`, and with `--changed-since HEAD` as a pull request runs it),
- a comment added under components/ (every tenant must be planned again),
- `plan --all --json` from the warm cache.

For every run it prints the wall time, the CPU time of all its processes, the plans
reused from the cache, the peak resident memory (VmHWM) of every process of the run (the
command, the fork server and each worker), the command's own account from `wait4` and the
load average; then each target of the fleet-scale issue, met or not. `--fleet N` repeats
the cached runs on a second fleet of N tenants (its cache filled by a cold run first);
`--ratio-only` stops after the cold runs; `--pairs N` alternates them N times and takes the
median. `--gc` also measures the planner's collector
tuning in this process.

    .venv/bin/python -m benchmarks.fleet_gate --tenants 1000 [--fleet 10000] [--workers 2]
        [--skip-ratio | --ratio-only] [--pairs N]
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.spec import REGIONS_BY_RESIDENCY, Residency, TenantSpec
from planner.stacks import PROJECT_ROOT, StackFiles

_PLAN_MIX = ["free"] * 4 + ["starter"] * 3 + ["pro"] * 2 + ["enterprise"]
_POOL = ipaddress.IPv4Network("10.0.0.0/8")
_REUSED = re.compile(r"plan cache: (\d+) of (\d+) tenant\(s\) reused")


def synthetic_spec(index: int) -> TenantSpec:
    """Tenant `index` of the fleet: plans, regions and options vary with the index."""
    plan = _PLAN_MIX[index % len(_PLAN_MIX)]
    residency = list(Residency)[index % 3]
    regions = REGIONS_BY_RESIDENCY[residency]
    spec: dict[str, Any] = {
        "tenant_id": f"t{index:05d}",
        "plan": plan,
        "region": regions[(index // 3) % len(regions)],
        "residency": residency.value,
        "network": {
            "cidr": str(ipaddress.IPv4Network((int(_POOL.network_address) + index * 1024, 22)))
        },
        "alarms": {"contacts": [f"ops@t{index:05d}.example"]},
    }
    if plan != "free":
        spec["storage"] = {"buckets": [{"role": "data"}, {"role": "uploads"}]}
        if index % 2:
            spec["storage"]["table"] = {"hash_key": "pk"}
        if index % 5 == 0:
            spec["compute"] = {
                "schedules": [
                    {
                        "name": "office-hours",
                        "recurrence": "0 7 * * 1-5",
                        "min_size": 1,
                        "desired_capacity": 2,
                        "max_size": 3,
                    }
                ]
            }
    if plan in ("pro", "enterprise"):
        spec["network"]["ingress"] = [
            {"port": 8443, "cidr": "172.20.0.0/16", "description": "customer site over VPN"}
        ]
    if plan == "enterprise":
        spec["operator"] = {
            "account_id": f"{210987654321 + index:012d}",
            "external_id": f"ops-{index:05d}-7f3c9a1d2b8e",
        }
    return TenantSpec.model_validate(spec)


def copy_project(target: Path) -> Path:
    """The program, pack and control plane, so a code change does not touch the real tree."""
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("components", "planner", "policies", "control_plane"):
        shutil.copytree(PROJECT_ROOT / package, target / package, ignore=ignore)
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT_ROOT / name, target / name)
    return target


def _commit(project: Path) -> None:
    """Make the scratch project a git repository, for `--changed-since`."""
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "fleet"],
    ):
        subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)


@dataclass
class PeakMemory:
    """Samples the peak resident memory (VmHWM) of a process and all its descendants."""

    root: int
    peaks: dict[int, tuple[str, int]] = field(default_factory=dict)
    cpu_ticks: dict[int, int] = field(default_factory=dict)
    """User and system time of each process, in clock ticks, as last seen."""
    _stop: threading.Event = field(default_factory=threading.Event)

    def watch(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.05)

    def sample(self) -> None:
        parents: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
        family = {self.root}
        grew = True
        while grew:
            found = {pid for pid, parent in parents.items() if parent in family} - family
            grew = bool(found)
            family |= found
        for pid in family:
            self.cpu_ticks[pid] = max(ticks.get(pid, 0), self.cpu_ticks.get(pid, 0))
            peak = _peak_kib(pid)
            if peak is not None:
                role = self.peaks.get(pid, (_role(pid, parents, self.root), 0))[0]
                self.peaks[pid] = (role, max(peak, self.peaks.get(pid, ("", 0))[1]))

    def summary(self) -> str:
        rows = sorted(self.peaks.items(), key=lambda item: (item[1][0], item[0]))
        return ", ".join(f"{role} {kib / 1024:.0f}" for _pid, (role, kib) in rows)

    def cpu_seconds(self) -> float:
        """CPU time of the whole run: the measure a busy shared machine distorts least."""
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def largest_mib(self) -> float:
        return max((kib for _role, kib in self.peaks.values()), default=0) / 1024


def _peak_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _role(pid: int, parents: dict[int, int], root: int) -> str:
    if pid == root:
        return "command"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "process"
    if "resource_tracker" in command:
        return "tracker"
    if "forkserver" in command:  # workers are forked from the server and share its command
        return "fork-server" if parents.get(pid) == root else "worker"
    return Path(command.split(" ", 1)[0]).name  # e.g. git, for --changed-since


@dataclass(frozen=True)
class Run:
    name: str
    seconds: float
    reused: int
    total: int
    exit_code: int
    memory: PeakMemory
    waited_cpu: float
    """CPU seconds of the command and the processes it waited for (`wait4`)."""
    waited_peak_kib: int
    """Largest resident size among the command and the processes it waited for."""
    load: float
    """The machine's one-minute load average when the run ended."""

    def line(self) -> str:
        verdict = "passed" if self.exit_code == 0 else "FAILED (mandatory findings)"
        return (
            f"{self.name:<34} {self.seconds:7.1f} s wall {self.memory.cpu_seconds():7.1f} s CPU  "
            f"reused {self.reused:>5}/{self.total:<5} {verdict}; "
            f"peak MiB: {self.memory.summary()}; command and what it waited for (wait4): "
            f"{self.waited_cpu:.1f} s CPU, {self.waited_peak_kib / 1024:.0f} MiB; "
            f"load {self.load:.1f}"
        )


def tenantctl(name: str, args: list[str], env: dict[str, str], cwd: Path) -> Run:
    command = [sys.executable, "-c", "from control_plane.cli import main; main()", *args]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    memory = PeakMemory(process.pid)
    watcher = memory.watch()
    assert process.stderr is not None
    errors = process.stderr.read()
    process.stderr.close()
    # Reaped here rather than by `Popen.wait`, to read the kernel's account of the command.
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    memory.stop()
    watcher.join()
    reused = _REUSED.search(errors)
    if process.returncode not in (0, 1) or "Traceback" in errors:
        raise SystemExit(f"{name}: tenantctl {' '.join(args)} failed:\n{errors}")
    return Run(
        name,
        seconds,
        int(reused.group(1)) if reused else 0,
        int(reused.group(2)) if reused else 0,
        process.returncode,
        memory,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss,
        os.getloadavg()[0],
    )


def measure_collector(stacks: Path, count: int) -> None:
    """Plan `count` tenants with the default collector, then `count` more as a batch plans
    them (the collector off during each plan, one young collection after it)."""
    from planner.program import batch_heap  # noqa: PLC0415 (only for --gc)
    from policies.runner import check_stack_file  # noqa: PLC0415

    paths = sorted(stacks.glob("Pulumi.*.yaml"))[: 2 * count + 2]
    spent = [0.0, 0.0]

    def clock(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            spent[1] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - spent[1]

    check_stack_file(paths[0])  # imports and caches out of the measurement
    gc.callbacks.append(clock)
    for label, batch in (
        ("default collector", paths[1 : count + 1]),
        ("batch heap", paths[count + 1 :]),
    ):
        spent[0] = 0.0
        started = time.perf_counter()
        for path in batch:
            if label == "batch heap":
                with batch_heap():
                    check_stack_file(path)
            else:
                check_stack_file(path)
        elapsed = time.perf_counter() - started
        print(
            f"  {label:<18} {1000 * elapsed / len(batch):6.1f} ms/tenant, of which collecting "
            f"{1000 * spent[0] / len(batch):5.1f} ms ({100 * spent[0] / elapsed:4.1f} %)"
        )
    gc.callbacks.remove(clock)


@dataclass
class Fleet:
    """A scratch project with `count` synthetic tenants, a git repository and a data dir."""

    count: int
    scratch: Path

    def __post_init__(self) -> None:
        self.project = copy_project(self.scratch / "project")
        self.files = StackFiles(self.project / "stacks")
        for index in range(self.count):
            self.files.write_spec(synthetic_spec(index))
        _commit(self.project)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(self.project),
            "TENANTS_DATA_DIR": str(self.scratch / "data"),
            "TENANTS_STACKS_DIR": str(self.files.root),
        }

    def run(self, name: str, args: list[str]) -> Run:
        run = tenantctl(name, args, self.env, self.scratch)
        print(run.line(), flush=True)  # as it happens: a long benchmark shows its progress
        return run

    def check(self, workers: int, *extra: str) -> list[str]:
        report = ["--format", "json", "--output", str(self.scratch / "report.json")]
        return ["check", *extra, "--workers", str(workers), *report]

    def change_one_stack(self, which: int) -> None:
        """Edit the contact of one stack (`which` picks one of a few), as a pull request."""
        tenants = self.files.tenants()
        changed = self.files.path(tenants[(self.count // 2 + which) % len(tenants)])
        changed.write_text(changed.read_text().replace("ops@", "oncall@", 1))

    def change_code(self) -> None:
        with (self.project / "components" / "bundle.py").open("a") as source:
            source.write("# a code change: every tenant is planned again\n")


def gate_runs(
    fleet: Fleet,
    workers: int,
    *,
    ratio: bool,
    code_change: bool,
    ratio_only: bool = False,
    pairs: int = 1,
) -> list[Run]:
    """The gate's runs on one fleet, in the order CI meets them. The cold 1-process and
    2-process runs alternate `pairs` times: on a shared machine one pair can be off by a
    tenth either way, so the targets take the median."""
    runs: list[Run] = []
    count = f"{fleet.count:,}"
    for pair in range(1, pairs + 1 if ratio else 1):
        for processes in (1, 2):
            name = f"{count} cold, {processes} process{'es' * (processes > 1)}, no cache"
            name += f" #{pair}" if pairs > 1 else ""
            runs.append(fleet.run(name, fleet.check(processes, "--all", "--no-cache")))
    if ratio_only:
        return runs
    check = fleet.check(workers, "--all")
    runs.append(fleet.run(f"{count} cold, {workers} processes, filling", check))
    runs.append(fleet.run(f"{count} warm: nothing changed", check))
    # Each run below meets a stack no run has planned yet: each plans exactly one.
    fleet.change_one_stack(0)
    since = fleet.check(workers, "--changed-since", "HEAD")
    runs.append(fleet.run(f"{count} one changed, --changed-since", since))
    fleet.change_one_stack(1)
    runs.append(fleet.run(f"{count} one stack file changed", check))
    plan = ["plan", "--all", "--json", "--workers", str(workers)]
    runs.append(fleet.run(f"{count} plan --all --json, warm", plan))
    if code_change:
        fleet.change_code()
        runs.append(fleet.run(f"{count} code changed (components/)", check))
    return runs


def targets(runs: list[Run], small: int, large: int | None) -> list[str]:
    """Each target of the fleet-scale issue against what the runs measured."""
    by_name = {run.name: run for run in runs}

    def seconds(name: str) -> float | None:
        run = by_name.get(name)
        return run.seconds if run is not None else None

    rows: list[tuple[str, float | None, float, str]] = []
    singles = [r.seconds for r in runs if r.name.startswith(f"{small:,} cold, 1 process, no")]
    doubles = [r.seconds for r in runs if r.name.startswith(f"{small:,} cold, 2 processes, no")]
    double = statistics.median(doubles) if doubles else None
    rows.append((f"cold gate, {small:,} tenants, 2 processes (s)", double, 45, "<="))
    ratios = [one / two for one, two in zip(singles, doubles, strict=False)]
    ratio = statistics.median(ratios) if ratios else None
    rows.append((f"2 processes against 1, cold, {small:,} tenants (x)", ratio, 1.8, ">="))
    if len(ratios) > 1:
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"ratios of the {len(ratios)} pairs: {shown}; 2 processes (s): {doubles}")
    if large is not None:
        rows.append(
            (
                f"nothing changed, {large:,} tenants (s)",
                seconds(f"{large:,} warm: nothing changed"),
                10,
                "<=",
            )
        )
        rows.append(
            (
                f"one stack changed, {large:,} tenants, --all (s)",
                seconds(f"{large:,} one stack file changed"),
                5,
                "<=",
            )
        )
        rows.append(
            (
                f"one stack changed, {large:,}, --changed-since (s)",
                seconds(f"{large:,} one changed, --changed-since"),
                5,
                "<=",
            )
        )
        largest = max(
            (r.memory.largest_mib() for r in runs if r.name.startswith(f"{large:,} ")), default=0
        )
        rows.append((f"largest process, {large:,} tenants (MiB)", largest, 1024, "<="))
    code = by_name.get(f"{small:,} code changed (components/)")
    if code is not None:
        rows.append((f"reused after a code change, {small:,} tenants", code.reused, 0, "<="))
    lines = []
    for label, value, target, sense in rows:
        if value is None:
            lines.append(f"  {label:<48} not measured (target {sense} {target})")
            continue
        met = value <= target if sense == "<=" else value >= target
        verdict = "met" if met else "NOT met"
        lines.append(f"  {label:<48} {value:8.2f}  target {sense} {target:<6} {verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument(
        "--fleet",
        type=int,
        default=0,
        metavar="N",
        help="also a fleet of N tenants: its cache filled, then warm and one-changed runs",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--skip-ratio", action="store_true", help="skip the cold 1-process and 2-process runs"
    )
    parser.add_argument(
        "--ratio-only", action="store_true", help="only the cold 1-process and 2-process runs"
    )
    parser.add_argument(
        "--pairs", type=int, default=1, help="cold 1-process and 2-process runs, alternated"
    )
    parser.add_argument("--gc", type=int, default=0, metavar="N", help="collector test on N")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    count = min(max(args.tenants, 2), 16_000)
    large = min(max(args.fleet, 2), 16_000) if args.fleet else None

    scratch = Path(tempfile.mkdtemp(prefix="fleet-gate-"))
    try:
        print(f"load average at start: {os.getloadavg()}", flush=True)
        small_fleet = Fleet(count, scratch / "small")
        runs = gate_runs(
            small_fleet,
            args.workers,
            ratio=not args.skip_ratio,
            pairs=min(max(args.pairs, 1), 9),
            code_change=True,
            ratio_only=args.ratio_only,
        )
        if large is not None:
            started = time.perf_counter()
            large_fleet = Fleet(large, scratch / "large")
            print(f"{large:,} tenants written in {time.perf_counter() - started:.0f} s", flush=True)
            runs += gate_runs(large_fleet, args.workers, ratio=False, code_change=False)

        print(
            f"tenants: {count}, fleet: {large or '-'}, workers: {args.workers}, "
            f"cores: {os.cpu_count()}, load average at end: {os.getloadavg()}"
        )
        for run in runs:
            print(run.line())
        largest = max(run.memory.largest_mib() for run in runs)
        print(f"largest process: {largest:.0f} MiB")
        print("targets:")
        print("\n".join(targets(runs, count, large)))
        if args.gc:
            print(f"collector, {args.gc} tenants each, in this process:")
            measure_collector(small_fleet.files.root, args.gc)
    finally:
        if args.keep:
            print(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
