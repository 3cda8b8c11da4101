"""Helpers of the loadbalancer scenario: the VIP, HAProxy's runtime API, and a steady
load generator that records every request it sends, so the drills count failures
instead of assuming none."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import requests
import urllib3

from lab import testing
from lab.state import PROJECT_DIR

SCENARIO = Path(__file__).resolve().parent.parent
REPORT = PROJECT_DIR / "reports" / "drills" / "loadbalancer.json"
BACKEND = "horilla"
SOCKET = "/run/haproxy/admin.sock"


def vip() -> str:
    return testing.lab().vars["vip"]


def lbs() -> list[str]:
    return [h.name for h in testing.lab().group("loadbalancers")]


def app_nodes() -> list[str]:
    return [h.name for h in testing.lab().group("app")]


def address(name: str) -> str:
    return testing.lab().host(name).address


@cache
def ca_file() -> str:
    """The load balancers' self-signed certificate, trusted for the VIP (its SAN)."""
    pem = testing.host(lbs()[0]).check_output("openssl x509 -in /etc/haproxy/tls/horilla.pem")
    path = Path(tempfile.gettempdir()) / f"{testing.lab().name}-ca.pem"
    path.write_text(pem + "\n")
    return str(path)


def https(path: str = "/") -> str:
    return f"https://{vip()}{path}"


def runtime(lb: str, command: str) -> str:
    """One command on HAProxy's runtime API of a load balancer."""
    return testing.host(lb).check_output(f"echo {json.dumps(command)} | socat stdio UNIX-CONNECT:{SOCKET}")


def server_states(lb: str) -> dict[str, str]:
    """Status of every server of the app backend as one load balancer sees it (UP, DOWN, MAINT...)."""
    rows = runtime(lb, "show stat").splitlines()
    header = rows[0].lstrip("# ").split(",")
    col = {name: i for i, name in enumerate(header)}
    states = {}
    for row in rows[1:]:
        cells = row.split(",")
        if len(cells) > col["status"] and cells[col["pxname"]] == BACKEND and cells[col["svname"]] in app_nodes():
            states[cells[col["svname"]]] = cells[col["status"]]
    return states


def all_up(lb: str) -> bool:
    states = server_states(lb)
    return len(states) == len(app_nodes()) and all(s.startswith("UP") for s in states.values())


def vip_holders() -> list[str]:
    holders = []
    for lb in lbs():
        # A killed container answers nothing (docker exec fails): not a holder.
        out = testing.host(lb).run("ip -4 -o addr show").stdout
        if f" {vip()}/" in out:
            holders.append(lb)
    return holders


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # a container mid-restart
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last: {last!r})")


def ansible_playbook(
    playbook: str, *args: str, timeout: float = 900, inventories: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess:
    """Run one of the project's playbooks against this scenario's hosts, as an operator would
    (`inventories`: other inventory sources instead of this scenario's own)."""
    prefix = address(lbs()[0]).rsplit(".", 1)[0]
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"), LAB_SUBNET_PREFIX=prefix)
    env.setdefault("LAB_NAME", testing.lab().name)
    env.setdefault("MOLECULE_PROJECT_DIRECTORY", str(PROJECT_DIR))
    sources = [arg for path in inventories or (SCENARIO / "inventory",) for arg in ("-i", str(path))]
    return subprocess.run(
        ["ansible-playbook", *sources, str(PROJECT_DIR / "playbooks" / playbook), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@dataclass
class Result:
    started: float
    seconds: float
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    error: str = ""


@dataclass
class Load:
    """A steady stream of GET requests to the VIP from `workers` threads, `rate` per second
    in all, each on a new connection (TLS handshake included), so every request is routed
    afresh through the VIP and HAProxy. Failures: anything but a 200."""

    path: str = "/"
    rate: float = 20.0
    workers: int = 4
    timeout: float = 45.0
    results: list[Result] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        interval = self.workers / self.rate
        for i in range(self.workers):
            thread = threading.Thread(target=self._run, args=(interval, i * interval / self.workers), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, interval: float, offset: float) -> None:
        url, ca = https(self.path), ca_file()
        next_at = time.monotonic() + offset
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            # A thread held up by a slow request skips the slots it missed instead of
            # firing them in a burst: the load stays steady, and a burst from this one
            # client would run into HAProxy's per-client rate limit (429).
            next_at = max(next_at + interval, time.monotonic())
            started = time.monotonic()
            try:
                response = requests.get(url, timeout=self.timeout, verify=ca, headers={"Connection": "close"})
                result = Result(started, time.monotonic() - started, response.status_code)
            except requests.RequestException as exc:
                result = Result(started, time.monotonic() - started, 0, type(exc).__name__)
            with self._lock:
                self.results.append(result)

    def stop(self) -> Load:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        return self

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status != 200]

    def summary(self) -> dict:
        latencies = sorted(r.seconds for r in self.results)
        failures = self.failures()
        errors: dict[str, int] = {}
        for r in failures:
            key = r.error or str(r.status)
            errors[key] = errors.get(key, 0) + 1
        return {
            "rate_per_second": self.rate,
            "requests": len(self.results),
            "failed": len(failures),
            "failed_percent": round(100 * len(failures) / len(self.results), 3) if self.results else None,
            "failures_by_kind": errors,
            "latency_p50_seconds": round(latencies[len(latencies) // 2], 3) if latencies else None,
            "latency_p99_seconds": round(latencies[int(len(latencies) * 0.99)], 3) if latencies else None,
            "latency_max_seconds": round(latencies[-1], 3) if latencies else None,
        }


@cache
def release() -> str:
    return testing.host(lbs()[0]).check_output(". /etc/os-release; echo $VERSION_CODENAME")


def record(drill: str, figures: dict) -> None:
    """Merge one drill's figures into the scenario's report."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report.setdefault("drills", {})[drill] = figures
    report.update(
        scenario="loadbalancer",
        debian_release=release(),
        haproxy=testing.host(lbs()[0]).check_output("haproxy -v | head -1"),
        keepalived=testing.host(lbs()[0]).check_output("keepalived --version 2>&1 | head -1"),
        machine=f"{os.cpu_count()} cores, shared with other engineers' scenarios",
        load="GET https://<VIP>/ (the stand-in app's page), each on a new TLS connection, paced by 4 threads",
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
