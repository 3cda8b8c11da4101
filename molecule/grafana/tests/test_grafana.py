"""The grafana role's package-source decisions, on a real host.

Grafana cannot be installed here (not in Debian; its APT repository is out of reach of
these machines and of CI), so this scenario proves what the role does without it:
the lab's converge skips Grafana loudly and the rest converges; with
grafana_when_unavailable=fail an unreachable repository (an address of this lab where
nothing listens) or a missing local package stops the run in preflight, naming the
variables, before anything changes; a short admin password is refused.
That the dashboards show data is proven in the monitoring scenario.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from lab import testing
from lab.state import PROJECT_DIR

testinfra_hosts = testing.hosts("monitoring")

SCENARIO_DIR = PROJECT_DIR / "molecule" / "grafana"
PLAYBOOK = PROJECT_DIR / "playbooks" / "dashboards.yml"


def run_playbook(*extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(PROJECT_DIR / "roles"),
        "LAB_NAME": testing.lab().name,
        "LAB_SUBNET_PREFIX": os.environ.get("LAB_SUBNET_PREFIX", "172.30.27"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    argv = ["ansible-playbook", "-i", str(SCENARIO_DIR / "inventory"), str(PLAYBOOK), *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=PROJECT_DIR)


def recap(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("mon1") and "ok=" in line)


def assert_nothing_of_grafana(host) -> None:
    assert not host.package("grafana").is_installed
    assert not host.file("/etc/apt/sources.list.d/grafana.list").exists
    assert not host.file("/etc/apt/keyrings/grafana.asc").exists
    assert not host.file("/etc/grafana").exists
    assert not host.socket("tcp://0.0.0.0:3000").is_listening
    assert not host.socket(f"tcp://{testing.lab().host('mon1').address}:3000").is_listening


def test_the_lab_skips_grafana_loudly_and_converges(host):
    result = run_playbook()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "TASK [grafana : GRAFANA IS SKIPPED, no package source]" in output
    assert "...ignoring" in output
    assert "No Grafana package source: grafana_apt_url is empty." in output
    assert "grafana_package_file" in output
    line = recap(output)
    assert "failed=0" in line and "ignored=1" in line and "changed=0" in line, line
    assert_nothing_of_grafana(host)


def test_the_rest_of_the_host_converged(host):
    assert host.service("prometheus-node-exporter").is_running
    address = testing.lab().host("mon1").address
    assert host.socket(f"tcp://{address}:9100").is_listening


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            # An address of this lab where nothing listens: the repository "cannot be reached".
            ["-e", "grafana_apt_url=http://{mon1}:9"],
            "Grafana APT repository http://{mon1}:9 cannot be reached from mon1",
        ),
        (
            ["-e", "grafana_package_file=/nonexistent/grafana_12.1.1_amd64.deb"],
            "grafana_package_file /nonexistent/grafana_12.1.1_amd64.deb does not exist on the controller.",
        ),
    ],
    ids=["unreachable-repository", "missing-local-package"],
)
def test_no_package_source_stops_in_preflight_naming_the_variables(host, extra, message):
    mon1 = testing.lab().host("mon1").address
    extra = [arg.format(mon1=mon1) for arg in extra]
    result = run_playbook("-e", "grafana_when_unavailable=fail", *extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "TASK [grafana : Stop when Grafana cannot be installed]" in output
    assert message.format(mon1=mon1) in output, output
    assert "Set grafana_package_file to a grafana_12.1.1_amd64.deb on the controller" in output
    assert "or grafana_apt_url to a mirror" in output
    # Stopped in the site-wide preflight: the Dashboards play never started.
    assert "PLAY [Dashboards]" not in output
    assert_nothing_of_grafana(host)


def test_a_short_admin_password_is_refused(host):
    result = run_playbook("-e", "grafana_admin_password=tooshort")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "grafana_admin_password is missing or shorter than 16 characters" in output
    assert "tooshort" not in output
    assert "PLAY [Dashboards]" not in output
