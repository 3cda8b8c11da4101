"""TCP connect scans from inside the lab network: an outsider's (a container on the lab
network in no group and with no credentials) and each group's own hosts'.

The controller (this machine) scans with the same script, run by its own Python.

A port "answers" when a TCP connection to it completes; the host firewall refuses the
rest with a reset, so a scan of tens of thousands of ports takes seconds, not the
hours of dropped probes. The scanner runs inside the scanning container, with its
Python, as a script on stdin: epoll over non-blocking sockets, many in flight.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from lab import testing

OUTSIDER_OCTET = 250  # the outsider's address on the lab network: <prefix>.250

# Runs in the scanning container: reads {"targets": [[address, [port, ...]], ...],
# "timeout": s, "in_flight": n} on stdin, prints the "address:port" that answered.
SCANNER = r"""
import errno, json, select, socket, sys, time
spec = json.load(sys.stdin)
todo = iter([(a, p) for a, ports in spec["targets"] for p in ports])
poller = select.epoll()
flying = {}
answered = []
def launch():
    for address, port in todo:
        s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        code = s.connect_ex((address, port))
        if code in (0, errno.EINPROGRESS):
            poller.register(s.fileno(), select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP)
            flying[s.fileno()] = (s, address, port, time.monotonic())
            if len(flying) >= spec["in_flight"]:
                return
        else:
            s.close()
launch()
while flying:
    for fd, _ in poller.poll(0.05):
        s, address, port, _ = flying.pop(fd)
        poller.unregister(fd)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            answered.append(f"{address}:{port}")
        s.close()
    now = time.monotonic()
    for fd in [fd for fd, v in flying.items() if now - v[3] > spec["timeout"]]:
        s = flying.pop(fd)[0]
        poller.unregister(fd)
        s.close()
    launch()
print(json.dumps(sorted(answered)))
"""


# Runs in the scanning container: reads {"targets": ["address:port", ...], "postgres":
# [port, ...], "timeout": s} on stdin, prints {"address:port": "tls" | "ssh" | "plaintext"}.
# A listener "speaks TLS" when a TLS handshake with it completes (certificates are not
# judged here: the services' own tests verify them); PostgreSQL's ports are asked with
# its SSLRequest first, as a client does; SSH is encrypted, though not TLS.
TLS_PROBE = r"""
import json, socket, ssl, struct, sys
from concurrent.futures import ThreadPoolExecutor
spec = json.load(sys.stdin)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
def probe(target):
    address, _, port = target.rpartition(":")
    try:
        with socket.create_connection((address, int(port)), timeout=spec["timeout"]) as s:
            s.settimeout(spec["timeout"])
            if int(port) in spec["postgres"]:
                s.sendall(struct.pack("!II", 8, 80877103))
                if s.recv(1) != b"S":
                    return target, "plaintext"
            else:
                try:
                    if s.recv(4, socket.MSG_PEEK) == b"SSH-":
                        return target, "ssh"
                except socket.timeout:
                    pass  # a server that waits for the client to speak first
            with context.wrap_socket(s, server_hostname=address):
                return target, "tls"
    except ssl.SSLError as exc:
        # A TLS alert is a TLS server's answer (one that wants a client certificate);
        # anything else (a wrong version number: plain text back) is not.
        return target, "tls" if "ALERT" in (exc.reason or "") else "plaintext"
    except OSError:
        return target, "plaintext"
with ThreadPoolExecutor(16) as pool:
    print(json.dumps(dict(pool.map(probe, spec["targets"]))))
"""
# PostgreSQL's ports: the servers' own and HAProxy's to the primary and the replicas.
POSTGRES_PORTS = [5432, 5000, 5001]


def speaks_tls(container: str, targets: Iterable[str], timeout: float = 1.5) -> dict[str, str]:
    """{"address:port": "tls" | "ssh" | "plaintext"} of listeners, asked from `container`."""
    spec = {"targets": sorted(set(targets)), "postgres": POSTGRES_PORTS, "timeout": timeout}
    return run_script(container, TLS_PROBE, spec, "the TLS probe", timeout=600)


def run_script(container: str | None, script: str, spec: dict, what: str, timeout: float) -> object:
    """A script run by the Python of `container` (of this machine when None), `spec` as
    JSON on its stdin; its stdout, parsed as JSON."""
    where = ["docker", "exec", "-i", container, "python3"] if container else [sys.executable]
    result = subprocess.run(
        [*where, "-c", script],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} from {container or 'this machine'} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def ports(ranges: Iterable[str | int]) -> list[int]:
    """[1, 2, ...] of ranges like "1-1024", 8080."""
    out: list[int] = []
    for item in ranges:
        low, _, high = str(item).partition("-")
        out += range(int(low), int(high or low) + 1)
    return out


def scan(container: str | None, targets: dict[str, list[int]], timeout: float = 2.0, in_flight: int = 512) -> set[str]:
    """The "address:port" of `targets` ({address: ports}) that answer from `container`,
    or from this machine (the controller, on the lab network's gateway) when it is None."""
    spec = {"targets": [[a, p] for a, p in targets.items()], "timeout": timeout, "in_flight": in_flight}
    return set(run_script(container, SCANNER, spec, "the scan", timeout=900))


def outsider_address() -> str:
    """The outsider's address: <the lab network's prefix>.OUTSIDER_OCTET."""
    host = next(iter(testing.lab().hosts.values()))
    return f"{host.address.rsplit('.', 1)[0]}.{OUTSIDER_OCTET}"


@contextmanager
def outsider() -> Iterator[str]:
    """A container on the lab network that belongs to no group: yields its name."""
    lab = testing.lab()
    host = next(iter(lab.hosts.values()))
    image = testing.docker("inspect", "--format", "{{.Config.Image}}", host.container).strip()
    name = f"{lab.name}-outsider"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    testing.docker(
        "run", "-d", "--name", name, "--network", lab.network, "--ip", outsider_address(),
        "--entrypoint", "sleep", image, "infinity",
    )  # fmt: skip
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
