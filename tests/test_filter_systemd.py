"""The systemd_escape_path filter (plugins/filter/systemd.py) names mount units as
systemd does: compared with `systemd-escape --path` on this machine."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parent.parent / "plugins" / "filter" / "systemd.py"
_spec = importlib.util.spec_from_file_location("horilla_filter_systemd", PLUGIN)
assert _spec and _spec.loader
_plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_plugin)
systemd_escape_path = _plugin.FilterModule().filters()["systemd_escape_path"]

PATHS = [
    "/var/lib/horilla/media",
    "/var/lib/horilla-media",
    "/srv//horilla/media/",
    "/",
    "/mnt/.hidden/x",
    "/data/média files",
    "/a:b_c.d",
]


@pytest.mark.parametrize("path", PATHS)
def test_matches_systemd_escape(path):
    if shutil.which("systemd-escape") is None:
        pytest.skip("systemd-escape is not installed")
    expected = subprocess.run(["systemd-escape", "--path", path], capture_output=True, text=True, check=True).stdout
    assert systemd_escape_path(path) == expected.strip()


def test_the_default_media_directory():
    assert systemd_escape_path("/var/lib/horilla/media") == "var-lib-horilla-media"
    assert systemd_escape_path("/var/lib/horilla-media") == "var-lib-horilla\\x2dmedia"


@pytest.mark.parametrize("bad", ["relative/path", "", None, "/a/../b"])
def test_refuses_what_is_not_an_absolute_normalised_path(bad):
    with pytest.raises(AnsibleFilterError):
        systemd_escape_path(bad)
