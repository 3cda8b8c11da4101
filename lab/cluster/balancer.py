"""The load balancer tier: the VIP, HAProxy's runtime API and its view of the app nodes."""

from __future__ import annotations

import json

from lab import testing

BACKEND = "horilla"
# The same app nodes, checked on /health/live/: used only while no node of BACKEND is
# ready (haproxy_app_fail_open).
FAIL_OPEN_BACKEND = "horilla_live"
SOCKET = "/run/haproxy/admin.sock"


def vip() -> str:
    return testing.lab().vars["vip"]


def internal_vip() -> str:
    """Where the app reaches Postgres through HAProxy (:5000, :5001): private, with the VIP."""
    return testing.lab().vars["internal_vip"]


def lbs() -> list[str]:
    return testing.names("loadbalancers")


def app_nodes() -> list[str]:
    return testing.names("app")


def ca_file() -> str:
    """The lab CA that signs every load balancer's certificate (haproxy_tls_ca_dir)."""
    return str(testing.secrets_dir() / "haproxy-ca" / "ca.crt")


def https(path: str = "/") -> str:
    return f"https://{vip()}{path}"


def runtime(lb: str, command: str) -> str:
    """One command on HAProxy's runtime API of a load balancer."""
    return testing.host(lb).check_output(f"echo {json.dumps(command)} | socat stdio UNIX-CONNECT:{SOCKET}")


def stats(lb: str) -> list[dict[str, str]]:
    """`show stat` as one dict per row (pxname, svname, status, scur...)."""
    rows = runtime(lb, "show stat").splitlines()
    header = rows[0].lstrip("# ").split(",")
    return [dict(zip(header, row.split(","), strict=False)) for row in rows[1:] if row]


def server_states(lb: str, backend: str = BACKEND) -> dict[str, str]:
    """Status of every app server of a backend as one load balancer sees it (UP, DOWN, MAINT...)."""
    return {r["svname"]: r["status"] for r in stats(lb) if r["pxname"] == backend and r["svname"] in app_nodes()}


def fail_open_served(lb: str) -> int:
    """Requests a load balancer has sent to the fail-open backend since HAProxy started."""
    return next(int(r["stot"]) for r in stats(lb) if r["pxname"] == FAIL_OPEN_BACKEND and r["svname"] == "BACKEND")


def all_up(lb: str) -> bool:
    states = server_states(lb)
    return len(states) == len(app_nodes()) and all(s.startswith("UP") for s in states.values())


def vip_holders(address: str | None = None) -> list[str]:
    """The load balancers holding the VIP (or `address`, e.g. the internal VIP)."""
    holders = []
    for lb in lbs():
        # A killed container answers nothing (docker exec fails): not a holder.
        out = testing.host(lb).run("ip -4 -o addr show").stdout
        if f" {address or vip()}/" in out:
            holders.append(lb)
    return holders


def healthy() -> bool:
    """One VIP holder, and every load balancer sees every app node UP."""
    return len(vip_holders()) == 1 and all(all_up(lb) for lb in lbs())
