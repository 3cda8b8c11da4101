"""A converge of the whole site after the drills changes nothing: hosts that were killed
and started again (Docker rewrites their /etc/hosts, systemd relinks the locale at boot),
a Postgres leader and a Redis primary that moved, a VIP on the other load balancer."""

from lab.cluster import health, report, run_playbook


def test_site_converge_after_the_drills_changes_nothing():
    health.wait_until_healthy()
    run = run_playbook("site.yml", timeout=1800)
    report.write(
        "converge-after-drill",
        settings={},
        events=[
            {
                "name": "site_converge",
                "seconds": run.seconds,
                "tasks_ok": run.totals()["ok"],
                "changed_hosts": run.changed_hosts(),
                "controller_cpu_s": run.controller_cpu_s,
            }
        ],
        totals={},
    )
    assert run.ok, run.tail(80)
    assert run.changed_hosts() == {}, run.tail(200)
