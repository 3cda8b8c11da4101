"""Bad input stops the run in preflight, before any host changes, with a message naming it."""

from __future__ import annotations

import pytest

from lab import testing


def _run(runner, extra_vars, tmp_path) -> tuple[int, str]:
    log_path = tmp_path / "ansible-playbook.log"
    with log_path.open("w") as log:
        returncode = runner(extra_vars, log).wait(timeout=300)
    return returncode, " ".join(log_path.read_text().split())


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        pytest.param(
            # An APT repository that does not answer (a closed port on a lab host: no
            # traffic leaves the lab) stops the apt method before anything is installed.
            {
                "elasticsearch_install_method": "apt",
                "elasticsearch_apt_repository_url": "http://{es1}:9/packages/8.x/apt",
            },
            "cannot reach the Elasticsearch APT repository http://{es1}:9/packages/8.x/apt",
            id="apt-repository-unreachable",
        ),
        pytest.param(
            {"elasticsearch_node_roles": ["data"]},
            "has 0 master-eligible node(s)",
            id="no-quorum",
        ),
    ],
)
def test_bad_input_stops_in_preflight(extra_vars, message, tmp_path, cluster, search_playbook_runner):
    es1 = testing.lab().host("es1").address
    extra_vars = {k: v.format(es1=es1) if isinstance(v, str) else v for k, v in extra_vars.items()}
    config_before = testing.host("es1").file("/etc/elasticsearch/elasticsearch.yml").md5sum
    returncode, output = _run(search_playbook_runner, extra_vars, tmp_path)
    assert returncode != 0
    assert message.format(es1=es1) in output, output[-3000:]
    assert "Check every role's inputs before anything changes" in output
    assert "TASK [elasticsearch : Write elasticsearch.yml]" not in output
    assert testing.host("es1").file("/etc/elasticsearch/elasticsearch.yml").md5sum == config_before
    assert cluster.health("es1")["status"] == "green"
