"""Host packages install without starting their services."""

from pathlib import Path

from lab import host


def test_services_not_started_while_installing(tmp_path: Path):
    policy = tmp_path / "policy-rc.d"
    with host.services_not_started(policy):
        assert policy.read_text().rstrip().endswith("exit 101")
        assert policy.stat().st_mode & 0o111
    assert not policy.exists()


def test_an_existing_policy_is_left_alone(tmp_path: Path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    with host.services_not_started(policy):
        pass
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"


def test_promtool_comes_from_the_host_packages():
    assert "prometheus" in host.required_packages()
