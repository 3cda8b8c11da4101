"""The README's tables of measured figures, generated from the reports they come from.

    python -m lab readme           rewrite the generated blocks of README.md
    python -m lab readme --check   fail when README.md is not what the reports give

A generated block sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->`;
everything else in the README is left alone. Figures are never copied by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from lab.state import PROJECT_DIR

README = PROJECT_DIR / "README.md"
BENCH = PROJECT_DIR / "reports" / "bench" / "converge.json"
CI_RUN = PROJECT_DIR / "reports" / "ci" / "test-run.json"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def bench_table(path: Path = BENCH) -> str:
    if not path.exists():
        return "_No benchmark yet: run `make bench`._"
    report = json.loads(path.read_text())
    before = report.get("before") or {}
    targets = report.get("targets", {})
    runs = report.get("runs", {})
    if "measured_at" not in report:
        return _unbenched_table(before, report.get("changes") or [])
    lines = [
        f"Measured by `make bench` on {report['measured_at'][:10]} ({report['machine']}, Debian "
        f"{report['debian_release']}, {report['hosts']} hosts, app {report['app']}, commit {report['commit']}); "
        "raw figures in `reports/bench/converge.json`." + (f" Before: {before['note']}." if before.get("note") else ""),
        "",
        "| whole site (`site.yml`) | before | now | target |",
        "|---|---|---|---|",
    ]
    for key, label in (("cold_converge_s", "converge of fresh hosts"), ("noop_rerun_s", "re-run with nothing to do")):
        target = targets.get(key)
        lines.append(
            f"| {label} | {_minutes(before.get(key))} | {_minutes(report.get(key))} | "
            f"{'≤ ' + _minutes(target) if target else '-'} |"
        )
    lines += [
        f"| tasks ok / skipped (fresh hosts) | {before.get('tasks_ok', '-')} / {before.get('tasks_skipped', '-')} "
        f"| {report.get('tasks_ok', '-')} / {report.get('tasks_skipped', '-')} | |",
        f"| controller CPU (fresh hosts) | {before.get('controller_cpu_s', '-')} s "
        f"| {report.get('controller_cpu_s', '-')} s | |",
        f"| changed on the re-run | {before.get('noop_rerun_changed', '-')} | {report.get('noop_rerun_changed', '-')} "
        "| 0 |",
    ]
    connections = [
        ("`docker exec` (the lab)", "noop_rerun", "noop_rerun_plain"),
        ("SSH as an unprivileged user with sudo (production's way)", "noop_rerun_ssh", "noop_rerun_ssh_plain"),
    ]
    if any(plain in runs for _, _, plain in connections):
        lines += ["", "| re-run with nothing to do, same hosts | mitogen (default) | plain Ansible |", "|---|---|---|"]
        for label, fast, plain in connections:
            if fast in runs or plain in runs:
                cells = [
                    f"{_minutes(runs[k]['seconds'])}, CPU {runs[k]['controller_cpu_s']} s" if k in runs else "-"
                    for k in (fast, plain)
                ]
                lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    cold, noop = runs.get("cold_converge", {}), runs.get("noop_rerun", {})
    tiers = list(cold.get("seconds_per_tier", {}))
    if tiers:
        old = before.get("runs", {})
        lines += [
            "",
            "| seconds per tier | " + " | ".join(tiers) + " |",
            "|---|" + "---|" * len(tiers),
        ]
        for label, figures in (
            ("fresh hosts, before", old.get("cold_converge", {})),
            ("fresh hosts, now", cold),
            ("re-run, before", old.get("noop_rerun", {})),
            ("re-run, now", noop),
        ):
            per_tier = figures.get("seconds_per_tier")
            if per_tier:
                lines.append(f"| {label} | " + " | ".join(f"{per_tier.get(t, 0):.0f}" for t in tiers) + " |")
    return "\n".join(lines + _changes_table(report.get("changes") or []))


def _changes_table(changes: list[dict]) -> list[str]:
    if not changes:
        return []
    lines = ["", "| change (measured on the same hosts, one after the other) | measured | before | after |"]
    lines += ["|---|---|---|---|"]
    return lines + [f"| {c['change']} | {c['measure']} | {c['before']} | {c['after']} |" for c in changes]


def _unbenched_table(before: dict, changes: list[dict]) -> str:
    """A report with the earlier tree's figures and the changes' effects, but no
    `make bench` run of this tree yet: say so, and show what was measured."""
    lines = ["_No `make bench` run of this tree is on record yet: run `make bench`._"]
    if before:
        lines += [
            "",
            f"Before ({before.get('note', 'an earlier tree')}):",
            "",
            "| whole site (`site.yml`) | before |",
            "|---|---|",
            f"| converge of fresh hosts | {_minutes(before.get('cold_converge_s'))} |",
            f"| re-run with nothing to do | {_minutes(before.get('noop_rerun_s'))} |",
            "| tasks ok / skipped (fresh hosts) | "
            f"{before.get('tasks_ok', '-')} / {before.get('tasks_skipped', '-')} |",
            f"| controller CPU (fresh hosts) | {before.get('controller_cpu_s', '-')} s |",
        ]
    return "\n".join(lines + _changes_table(changes))


def ci_table(path: Path = CI_RUN) -> str:
    if not path.exists():
        return "_No fresh-clone run recorded yet._"
    report = json.loads(path.read_text())
    lines = [
        f"One fresh-clone run of `bash .ci/run` ({report.get('measured_at', '')[:10]}, {report.get('machine', '')}): "
        f"{_minutes(report['total_s'])} in all; raw figures in `reports/ci/test-run.json`.",
        "",
        "| step | seconds | result |",
        "|---|---|---|",
    ]
    lines += [f"| {s['name']} | {s['seconds']:.0f} | {s['result']} |" for s in report["steps"]]
    return "\n".join(lines)


DRILLS = PROJECT_DIR / "reports" / "drills"


def _load(name: str) -> dict:
    """A drill report (lab/cluster/report.py's schema: header, settings, events, totals)."""
    path = DRILLS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _event(name: str, event: str) -> dict:
    """One event of a drill report by its name; {} when the report or the event is missing."""
    return next((e for e in _load(name).get("events", []) if e.get("name") == event), {})


def _s(value, unit: str = " s") -> str:
    return "-" if value is None else f"{value}{unit}"


def _alerting(settings: dict) -> str:
    """The drill's alerting timings (lab.cluster.monitoring.alerting_settings)."""
    defaults = "the roles' production defaults" if settings.get("production_defaults") else "not the roles' defaults"
    return (
        f"Alerting, from a host's death to its HostDown notification ({defaults}): scrape every"
        f" {settings['scrape_interval']}, rules evaluated every {settings['evaluation_interval']}, HostDown"
        f" `for: {settings['host_down_for']}`, its group_wait {settings['host_down_group_wait']} (the lab shortens"
        f" only other alerts' group_wait, to {settings['other_group_wait']}, and group_interval, to"
        f" {settings['group_interval']})."
    )


def cluster_drill_table(cluster: dict) -> list[str]:
    """The whole-site drill's events and totals (reports/drills/cluster.json): the README's
    table and the drill's own cluster.md."""
    lines = [
        f"Load: {cluster['settings']['load']}.",
        "",
        *([_alerting(cluster["settings"].get("alerting")), ""] if cluster["settings"].get("alerting") else []),
        "| event | failed / requests (reads) | unavailable | slowest read | failed over | writes paused"
        " | alert delivered | resolved | writes lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in cluster["events"]:
        if "lost_acknowledged_commits" in e:
            lost = f"{e['lost_acknowledged_commits']} of {e['acknowledged_commits']} commits"
        elif "lost_acknowledged_writes" in e:
            lost = f"{e['lost_acknowledged_writes']} of {e['acknowledged_writes']} Redis writes"
        else:
            lost = "-"
        if e.get("alert"):
            alert, resolved = (
                _s(e.get("alert_delivered_s")),
                _s(e.get("seconds_restart_until_alert_resolved")),
            )
        else:
            alert, resolved = "-", "-"
        what = e["what"] + (f" (round {e['round']})" if e.get("round") else "")
        lines.append(
            f"| {what} | {e['failed_requests']} / {e['requests']} ({e.get('failed_reads', '-')})"
            f" | {_s(e['seconds_unavailable'])} | {_s(e.get('slowest_read_s'))}"
            f" | {_s(e.get('seconds_until_failed_over'))} | {_s(e.get('write_unavailable_s'))}"
            f" | {alert} | {resolved} | {lost} |"
        )
    t = cluster["totals"]
    lines += [
        "",
        f"Over the {t['seconds']} s of the drill: {t['requests']} requests, {t['failed_requests']} failed "
        f"(availability {t['availability_percent']} %), p95 {t['latency_p95_ms']} ms.",
    ]
    for name, r in t.get("rounds", {}).items():
        lines.append(
            f"\n{name}, {r['rounds']} rounds: writes paused {_s(r['write_unavailable_s_median'])} as a median"
            f" (each: {', '.join(_s(v) for v in r['write_unavailable_s'])}); failed reads: {r['failed_reads']},"
            f" the slowest read answered after {_s(r['slowest_read_s'])}."
        )
    for e in cluster["events"]:
        beat = e.get("watchdog_heartbeat") or {}
        if "beats_while_down" in beat:
            sent = {None: "not awaited", 1: "sent once"}.get(
                n := e.get("alert_notifications"), f"sent {n} times (by {', '.join(e.get('alert_notified_by', []))})"
            )
            lines.append(
                f"\n{e['victim']} down: the Watchdog heartbeat went on from the other monitoring host"
                f" (heartbeats while it was down: {beat['beats_while_down']}, the longest gap"
                f" {_s(beat['seconds_longest_gap'])}); its HostDown {sent}."
            )
    return lines


def drills_table() -> str:
    """The whole-site drill's events, then the operations' figures, from reports/drills/."""
    cluster = _load("cluster")
    if not cluster:
        return "_No whole-site drill report yet: run `make drill-cluster`._"
    lines = [
        f"Measured by the whole-site scenario on {cluster['measured_at'][:10]} ({cluster['machine']}, Debian "
        f"{cluster['debian_release']}, app {cluster['app']}); raw figures in `reports/drills/`.",
        "",
        *cluster_drill_table(cluster),
    ]
    rows = []
    pg = _event("postgresql", "planned_switchover")
    if pg:
        rows.append(
            f"| planned switchover (`playbooks/postgresql-switchover.yml`) under a writer | writes paused "
            f"{_s(pg['write_unavailable_seconds'])}, {pg['lost_acknowledged_commits']} of "
            f"{pg['acknowledged_commits']} commits lost |"
        )
    lb = _event("loadbalancer", "haproxy_reloads")
    if lb:
        rows.append(
            f"| {lb['reloads']} HAProxy reloads under the users' load "
            f"| {lb['failed_requests']} of {lb['requests']} requests failed |"
        )
    es = _event("elasticsearch", "rolling_restart")
    if es:
        rows.append(
            f"| an Elasticsearch setting rolled out | {es['first']} then {es['second']}, "
            f"{es['seconds_between']} s apart, never more than one node away, never red |"
        )
    hz = _event("horilla", "frozen_scheduler_leader")
    if hz:
        rows.append(
            f"| the scheduler leader frozen (`docker pause`) | {hz['new_leader']} took over after "
            f"{_s(hz['seconds_until_taken_over'])}; the thawed node ran nothing |"
        )
    mon = _event("monitoring", "app_down_alert")
    if mon:
        rows.append(
            f"| the app down on every node | HorillaApplicationDown delivered "
            f"{_s(mon['seconds_failure_to_firing_notification'])} after, resolved "
            f"{_s(mon['seconds_recovery_to_resolved_notification'])} after recovery |"
        )
    backup = _event("backup", "restore")
    if backup:
        rows.append(
            f"| point-in-time restore of the database and the media (`playbooks/restore.yml`) | "
            f"{_s(backup['playbook_seconds'])}; every row up to T back, none after; files identical: "
            f"{backup['files_identical']} |"
        )
    by_id = _event("backup-scopes", "restore_backup_id_database_only")
    if by_id:
        rows.append(
            f"| restore of the database alone to one backup by its id (`restore_scope=database`) | "
            f"{_s(by_id['playbook_seconds'])}; rows: {by_id['rows_after_restore']} (none after the backup); "
            f"files untouched: {by_id['files_untouched']} |"
        )
    files_only = _event("backup-scopes", "restore_files_only")
    if files_only:
        rows.append(
            f"| restore of the files alone to a point in time (`restore_scope=files`) | "
            f"{_s(files_only['playbook_seconds'])}; files identical: {files_only['files_identical']}; "
            f"database untouched: {files_only['database_untouched']} |"
        )
    for name in (
        "etcd_member_replaced",
        "postgres_replica_replaced",
        "redis_replica_replaced",
        "postgres_replica_host_rebuilt",
        "redis_replica_host_rebuilt",
    ):
        member = _event("day2", name)
        if member:
            rows.append(
                f"| {member['what']}, under the users' load | converge {_s(member['converge_seconds'])}; "
                f"{member['failed_requests']} of {member['requests']} requests failed; second run changed: "
                f"{len(member['second_run_changed'])} hosts |"
            )
    names = [f"{tier}_node_{change}" for tier in ("app", "postgres", "redis") for change in ("added", "removed")]
    for name in [*names, "horilla_upgrade"]:
        change = _event("day2", name)
        if change:
            again = change.get("second_run_changed")
            rows.append(
                f"| {change['what']}, under the users' load | playbooks "
                f"{' + '.join(_s(s) for s in change['playbook_seconds'])}; {change['failed_requests']} of "
                f"{change['requests']} requests failed"
                + (f"; second run changed: {len(again)} hosts |" if again is not None else " |")
            )
    update = _event("day2", "os_update")
    if update:
        rows.append(
            f"| Debian updates and a reboot of every host, one at a time (`playbooks/os-update.yml`) under the "
            f"users' load | {update['hosts_rebooted']} hosts rebooted in {_s(update['playbook_seconds'])}; "
            f"{update['failed_requests']} of {update['requests']} requests failed |"
        )
    screen = _event("ops-dashboard", "load_balancer_killed")
    if screen:
        rows.append(
            f"| the operators' dashboard (:8080) in headless Chromium, {screen['victim']} killed | red "
            f"{_s(screen['seconds_kill_to_red'])} after the kill ({_s(screen['seconds_prometheus_to_red'])} after "
            f"Prometheus knew), green {_s(screen['seconds_start_to_green'])} after its start; screenshots in "
            "`reports/screens/` |"
        )
    shaded = _event("ops-dashboard", "maintenance_announced")
    if shaded:
        rows.append(
            f"| a maintenance announced (`horilla-maintenance start`), seen on the dashboard | shaded on "
            f"{shaded['graphs_shaded']} graphs {_s(shaded['seconds_announce_to_shaded'])} after the announcement "
            f"(Prometheus held it after {_s(shaded['seconds_announce_to_prometheus'])}) |"
        )
    # The measured upgrades of lab.cluster.upgrade: a running site of the release before
    # a change moved to it by its playbook, then site.yml.
    for name, change in (("etcd-tls", "etcd's TLS"), ("app-tls", "gunicorn's TLS")):
        moved = _load(name)
        if not moved.get("events"):
            continue
        steps = [e for e in moved["events"] if e["name"] != "converge again"]
        again = _event(name, "converge again")
        rows.append(
            f"| a running site of the release before {change} moved to it (`playbooks/{name}.yml`, then "
            "`site.yml`) under the users' load | "
            # molecule/cluster/converge.yml is the lab's site.yml
            + " + ".join(
                f"{'site.yml' if e['name'].endswith('converge.yml') else Path(e['name']).name} {_s(e['seconds'])}"
                for e in steps
            )
            + f"; {moved['totals']['failed_requests']} of {moved['totals']['requests']} requests failed"
            + (f"; the converge after changed {len(again['changed_hosts'])} hosts |" if again else " |")
        )
    after = _event("converge-after-drill", "site_converge")
    if after:
        rows.append(
            f"| `site.yml` after the drills | {_s(after['seconds'])}, changed on {len(after['changed_hosts'])} hosts |"
        )
    if rows:
        lines += ["", "| operation | measured |", "|---|---|", *rows]
    return "\n".join(lines)


FIREWALL = PROJECT_DIR / "roles" / "firewall"
SCAN = PROJECT_DIR / "reports" / "security" / "scan.json"


def _port(value) -> str:
    """A port of the firewall's defaults: the role variable's default where it is one."""
    text = str(value)
    match = re.search(r"default\((\d+)\)", text)
    return match[1] if match else text.replace("{{ firewall_ssh_port }}", "22")


def firewall_table() -> str:
    """The firewall's allow-list (roles/firewall/defaults), one row per entry, and the scan."""
    defaults = yaml.safe_load((FIREWALL / "defaults" / "main.yml").read_text())
    layers = yaml.safe_load((FIREWALL / "vars" / "main.yml").read_text())["_firewall_rule_layers"]
    lines = ["| service | on the hosts of | ports | who may connect |", "|---|---|---|---|"]
    for layer in layers:
        for entry in defaults.get(layer) or []:
            ports = [f"{_port(p)}/tcp" for p in entry.get("tcp", [])] + [
                f"{_port(p)}/udp" for p in entry.get("udp", [])
            ]
            ports += entry.get("protocols", [])
            where = entry["group"] + (" (the VIP only)" if entry.get("to") else "")
            sources = ", ".join(
                "anyone" if s == "any" else "operators (`admin`)" if s == "admin" else s for s in entry["from"]
            )
            lines.append(f"| {entry['service']} | {where} | {', '.join(ports)} | {sources} |")
    lines.append("| ssh | every host | 22/tcp | `firewall_admin_sources` and the controller's own address |")
    if SCAN.exists():
        scan = json.loads(SCAN.read_text())
        outsider = scan.get("outsider", {})
        tried = f"{outsider.get('connections_tried', '?')} ports ({outsider.get('ports', '?')} on "
        tried += f"{outsider.get('hosts', '?')} addresses) in {outsider.get('seconds', '?')} s"
        reached = ", ".join(f"`{x}`" for x in scan.get("outsider_open", [])) or "nothing"
        when = f"{scan.get('measured_at', '?')[:10]} ({scan.get('app', '?')})"
        lines += ["", f"Scan of {when}: an outsider on the lab network tried {tried}; it reached {reached}."]
        if "plaintext_listeners" in scan:
            clear = scan["plaintext_listeners"]
            encrypted = scan.get("encrypted_listeners", {})
            lines[-1] += (
                f" Of the listeners the groups' own hosts reach, {len(encrypted)} are encrypted (TLS or SSH) and"
                f" {len(clear)} speak in clear, each under a named exception with its reason"
                " (`plaintext_exceptions` in `reports/security/scan.json`) until issue 23's TLS lands."
            )
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {
    "bench": bench_table,
    "ci": ci_table,
    "drills": drills_table,
    "firewall": firewall_table,
}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        # An empty block (just the two markers) is filled in too.
        pattern = re.compile(rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)", re.S)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(check: bool = False) -> int:
    current = README.read_text()
    wanted = render(current)
    if check:
        if wanted != current:
            print("README.md: generated tables are stale: run `python -m lab readme`")
            return 1
        print("README.md: generated tables up to date")
        return 0
    if wanted != current:
        README.write_text(wanted)
        print("README.md: generated tables rewritten")
    else:
        print("README.md: generated tables up to date")
    return 0
