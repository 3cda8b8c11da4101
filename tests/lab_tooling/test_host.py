"""Host preparation: package list parsing and kernel limit tuning."""

from pathlib import Path

import pytest

from lab import host


def test_required_packages_skip_comments(tmp_path: Path):
    listing = tmp_path / "pkgs.txt"
    listing.write_text("# comment\nmmdebstrap  # builder\n\nprometheus\n")
    assert host.required_packages(listing) == ["mmdebstrap", "prometheus"]


def test_kernel_limits_raised_when_writable(tmp_path: Path, monkeypatch):
    knob = tmp_path / "fs" / "inotify" / "max_user_instances"
    knob.parent.mkdir(parents=True)
    knob.write_text("128\n")
    monkeypatch.setattr(host, "_proc_path", lambda key: tmp_path / key.replace(".", "/"))
    assert host.tune_kernel({"fs.inotify.max_user_instances": 8192}) == ["fs.inotify.max_user_instances=8192"]
    assert knob.read_text().strip() == "8192"
    assert host.tune_kernel({"fs.inotify.max_user_instances": 8192}) == []


def test_kernel_limits_that_cannot_be_raised_are_named(tmp_path: Path, monkeypatch):
    knob = tmp_path / "vm" / "max_map_count"
    knob.parent.mkdir(parents=True)
    knob.write_text("65530\n")
    knob.chmod(0o444)
    monkeypatch.setattr(host, "_proc_path", lambda key: tmp_path / key.replace(".", "/"))
    monkeypatch.setattr(Path, "write_text", lambda *a, **k: (_ for _ in ()).throw(PermissionError("read-only")))
    with pytest.raises(host.HostError, match=r"sysctl -w vm\.max_map_count=262144"):
        host.tune_kernel({"vm.max_map_count": 262144})
