"""The systemd_escape_path filter (plugins/filter/systemd.py) names mount units as
systemd does: compared with `systemd-escape --path` on this machine."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from lab.plugins import filters

systemd_escape_path = filters("systemd")["systemd_escape_path"]

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
