"""Shared bench plumbing: start servers, drive them with wrk, print figures beside baselines."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# wrk's Lua `done` hook prints one JSON line we parse: throughput, latency percentiles, errors.
WRK_REPORT = r"""
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "max_ms": %f, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errors, summary.errors.status))
end
"""


@dataclass
class Figure:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        sys.exit(f"{name} is needed for this benchmark: apt-get install -y {package}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def server(args: list[str], env: dict[str, str], health_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=log, cwd=ROOT)
        try:
            wait_http(health_url)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.seek(0)
            if os.environ.get("BENCH_SERVER_LOG"):  # keep the whole server log for a look afterwards
                Path(os.environ["BENCH_SERVER_LOG"]).write_bytes(log.read())
                log.seek(0)
            if proc.returncode not in (0, -15, None):
                sys.stderr.write(log.read().decode(errors="replace")[-3000:])


def sharelinks_server(
    database_url: str, port: int, *, access_log: bool = os.environ.get("BENCH_ACCESS_LOG", "1") == "1"
) -> Iterator[subprocess.Popen[bytes]]:
    env = {"SHARELINKS_DATABASE_URL": database_url, "SHARELINKS_ACCESS_LOG": "1" if access_log else "0",
           "SHARELINKS_SECRET_KEY": "bench-master-key"}  # fmt: skip
    args = [sys.executable, "-m", "sharelinks", "serve", "--port", str(port)]
    return server(args, env, f"http://127.0.0.1:{port}/health/live")


def noop_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "uvicorn", "bench.noop_app:app", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return server(args, {}, f"http://127.0.0.1:{port}/docs")


def run_wrk(name: str, url: str, lua: str, *, connections: int, seconds: int, threads: int = 1) -> Figure:
    wrk = require_tool("wrk", "wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + WRK_REPORT)
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    errors = report["errors"]
    return Figure(name, report["requests"], report["seconds"], report["p50_ms"], report["p99_ms"], errors)


def print_table(title: str, rows: list[tuple[Figure, Figure]], targets: dict[str, str]) -> None:
    print(f"\n{title}")
    print(
        f"{'measure':<38}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"   {'baseline req/s':>15}{'ratio':>7}  target"
    )
    for figure, baseline in rows:
        print(
            f"{figure.name:<38}{figure.rps:>9.0f}{figure.p50_ms:>9.2f}{figure.p99_ms:>9.2f}{figure.errors:>8}   "
            f"{baseline.rps:>15.0f}{figure.rps / baseline.rps:>7.2f}  {targets.get(figure.name, '')}"
        )


def _cpu_times() -> tuple[int, int]:
    """(steal, total) jiffies over all CPUs, from /proc/stat (Linux); (0, 0) elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    return values[7], sum(values)


def _python_speed() -> float:
    """Seconds for 10 million additions in a plain Python loop: this machine's speed for our kind of work."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def _busy_neighbours() -> list[str]:
    """Other processes already running our servers, nginx or wrk: left over from an earlier run,
    they take CPU from both sides of a comparison (Linux; none found elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = b" ".join(words).decode(errors="replace")
        if int(entry.name) != os.getpid() and (
            ("sharelinks" in line and (" serve" in line or " worker" in line)) or "nginx:" in line or "wrk " in line
        ):
            found.append(f"{entry.name}: {line.strip()[:80]}")
    return found


@contextmanager
def machine_report() -> Iterator[None]:
    """Print, after a bench, how much of the machine it had: the figures of a run where the hypervisor
    took a third of the CPU, or on a slower core, are not comparable with those of a quiet one (the
    ratios to the same-run baselines are, mostly: the baselines share the weather)."""
    neighbours = _busy_neighbours()
    if neighbours:
        print(f"warning: {len(neighbours)} server or load processes already running (stop them for clean figures):")
        print("\n".join(f"  {line}" for line in neighbours))
    speed = _python_speed()
    steal_before, total_before = _cpu_times()
    yield
    steal_after, total_after = _cpu_times()
    stolen = (steal_after - steal_before) / max(total_after - total_before, 1)
    print(
        f"machine: {os.cpu_count()} CPUs; plain Python {speed:.2f} s per 10M additions before the run; "
        f"{stolen:.0%} of CPU time stolen by the hypervisor during it"
    )
