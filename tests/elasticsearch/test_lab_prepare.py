"""What `python -m lab prepare` does for the Elasticsearch lab hosts, short of network and Docker."""

from pathlib import Path

import pytest

from lab import elasticsearch


def test_the_lab_pins_an_exact_maven_artifact():
    group, artifact, version, packaging = elasticsearch.maven_artifact().split(":")
    assert group == "org.elasticsearch.distribution.integ-test-zip"
    assert artifact == "elasticsearch"
    assert packaging == "zip"
    assert all(part.isdigit() for part in version.split("."))


def test_archive_lands_where_the_lab_inventory_looks(tmp_path: Path):
    path = elasticsearch.archive_path("org.example:elasticsearch:8.19.21:zip", tmp_path)
    assert path == tmp_path / "elasticsearch-8.19.21.zip"
    lab_vars = elasticsearch.LAB_VARS.read_text()
    assert "/.cache/elasticsearch" in lab_vars
    assert "elasticsearch-{{ elasticsearch_version }}.zip" in lab_vars


def test_malformed_artifact_is_refused(tmp_path: Path):
    bad = tmp_path / "lab.yml"
    bad.write_text("lab_elasticsearch_maven_artifact: org.example:elasticsearch\n")
    with pytest.raises(elasticsearch.PrepareError, match="group:artifact:version:type"):
        elasticsearch.maven_artifact(bad)


def test_max_map_count_is_raised_only_when_too_low(tmp_path: Path):
    setting = tmp_path / "max_map_count"
    setting.write_text("65530\n")
    assert "raised from 65530 to 262144" in elasticsearch.ensure_max_map_count(setting)
    assert setting.read_text().strip() == "262144"
    setting.write_text("1048576\n")
    assert elasticsearch.ensure_max_map_count(setting) == "vm.max_map_count 1048576"
    assert setting.read_text().strip() == "1048576"


def test_max_map_count_that_cannot_be_raised_is_reported(tmp_path: Path, monkeypatch):
    setting = tmp_path / "max_map_count"
    setting.write_text("65530\n")

    def read_only(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", read_only)
    message = elasticsearch.ensure_max_map_count(setting)
    assert message.startswith("WARNING: vm.max_map_count is 65530")
    assert "sysctl -w vm.max_map_count=262144" in message
