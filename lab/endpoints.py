"""Where each service of a lab answers, checked with a TCP connect from this machine."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from lab.state import LabState


@dataclass(frozen=True)
class Endpoint:
    group: str
    what: str
    url: str  # "{host}" is replaced by the host's address, "{vip}" by the virtual IP
    port: int
    per_host: bool = True
    # Which virtual IP "{vip}" is (a lab state variable): the public one, or the internal
    # one where the app reaches Postgres.
    vip: str = "vip"


# One row per service the roles deploy (CONTRIBUTING.md, "Architecture"). A row whose port
# does not answer is printed as such: nothing claims a service that is not there.
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("loadbalancers", "Horilla (through the VIP)", "https://{vip}/", 443, per_host=False),
    Endpoint("loadbalancers", "HAProxy stats and /metrics (auth)", "https://{host}:8404/stats", 8404),
    Endpoint(
        "loadbalancers",
        "Postgres primary / replicas (through the internal VIP)",
        "postgresql://{vip}:5000 and :5001",
        5000,
        per_host=False,
        vip="internal_vip",
    ),
    Endpoint("app", "gunicorn (Horilla, client certificate)", "https://{host}:8000/health/", 8000),
    Endpoint("postgres", "Patroni REST API (client certificate)", "https://{host}:8008/cluster", 8008),
    Endpoint("etcd", "etcd client (client certificate)", "https://{host}:2379/health", 2379),
    Endpoint("redis", "Redis", "redis://{host}:6379", 6379),
    Endpoint("sentinel", "Redis Sentinel", "redis://{host}:26379", 26379),
    Endpoint("elasticsearch", "Elasticsearch", "https://{host}:9200/_cluster/health", 9200),
    Endpoint("monitoring", "Prometheus (auth)", "https://{host}:9090/", 9090),
    Endpoint("monitoring", "Alertmanager (auth)", "https://{host}:9093/", 9093),
    Endpoint("monitoring", "Grafana", "http://{host}:3000/", 3000),
    Endpoint("monitoring", "blackbox_exporter (auth)", "https://{host}:9115/", 9115),
    Endpoint("monitoring", "operators' dashboard", "https://{host}:8080/", 8080),
    Endpoint("all", "node_exporter (auth)", "https://{host}:9100/metrics", 9100),
)


def answers(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def rows(state: LabState) -> list[tuple[str, str, str]]:
    """(what, url, status) for every endpoint whose group exists in the lab."""
    out: list[tuple[str, str, str]] = []
    for ep in ENDPOINTS:
        hosts = list(state.hosts.values()) if ep.group == "all" else state.group(ep.group)
        vip = state.vars.get(ep.vip)
        if not hosts:
            continue
        if not ep.per_host:
            if not vip:
                continue
            ok = answers(vip, ep.port)
            out.append((ep.what, ep.url.format(vip=vip), "answers" if ok else "not answering"))
            continue
        up = [h for h in hosts if answers(h.address, ep.port)]
        sample = ep.url.format(host=hosts[0].address, vip=vip)
        where = f"{sample}  ({', '.join(h.name for h in hosts)})" if len(hosts) > 1 else sample
        status = f"answers on {len(up)}/{len(hosts)}" if up else "not answering"
        out.append((ep.what, where, status))
    return out


def login_works(vip: str, username: str, password: str, ca_file: Path) -> bool:
    """Logs in to Horilla through the VIP as a browser would (the login form, its CSRF
    token), trusting the lab's CA for the load balancers' certificate."""
    import re

    import requests

    base = f"https://{vip}"
    try:
        with requests.Session() as session:
            form = session.get(f"{base}/login/", verify=str(ca_file), timeout=15)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
            if token is None:
                return False
            answer = session.post(
                f"{base}/login/",
                data={"csrfmiddlewaretoken": token.group(1), "username": username, "password": password},
                headers={"Referer": f"{base}/login/"},
                verify=str(ca_file),
                timeout=15,
                allow_redirects=False,
            )
            return answer.status_code == 302 and "/login" not in answer.headers.get("Location", "")
    except requests.RequestException:
        return False


def login_line(state: LabState) -> str | None:
    """Where to log in, as whom, where the password is, and whether that login works now."""
    vip, username = state.vars.get("vip"), state.vars.get("admin_user")
    secret = Path(state.inventory) / ".secrets" / "horilla_admin_password"
    ca_file = Path(state.inventory) / ".secrets" / "haproxy-ca" / "ca.crt"
    if not vip or not username or not state.group("app") or not secret.exists() or not ca_file.exists():
        return None
    works = login_works(vip, username, secret.read_text().split()[0], ca_file)
    return (
        f"Log in to Horilla at https://{vip}/login/ as {username}, password in {secret}"
        f"  [{'login works' if works else 'login FAILS'}]\n"
        f"The load balancers' certificate is signed by the lab CA {ca_file}: trust it in your browser or curl --cacert."
    )


def render(state: LabState) -> str:
    table = rows(state)
    width = max(len(r[0]) for r in table) if table else 0
    lines = [f"Lab {state.name}: {len(state.hosts)} hosts on Docker network {state.network}"]
    lines += [f"  {what:<{width}}  {url}  [{status}]" for what, url, status in table]
    login = login_line(state)
    if login:
        lines += ["", login]
    return "\n".join(lines)
