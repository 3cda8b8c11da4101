"""Base image recipes: rebuilt exactly when something that shapes the image changes."""

from pathlib import Path

import pytest

from lab import images


def test_digest_is_stable():
    assert images.Recipe("trixie").digest() == images.Recipe("trixie").digest()


def test_digest_follows_release_packages_and_certificates(tmp_path: Path):
    cert = tmp_path / "corp.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    base = images.Recipe("trixie").digest()
    assert images.Recipe("bookworm").digest() != base
    assert images.Recipe("trixie", packages=(*images.BASE_PACKAGES, "vim")).digest() != base
    with_cert = images.Recipe("trixie", ca_certificates=(cert,)).digest()
    assert with_cert != base
    cert.write_text("-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n")
    assert images.Recipe("trixie", ca_certificates=(cert,)).digest() != with_cert


def test_extra_ca_certificates(tmp_path: Path):
    (tmp_path / "a.crt").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in images.extra_ca_certificates(str(tmp_path))] == ["a.crt"]
    assert images.extra_ca_certificates("") == ()
    assert images.extra_ca_certificates(str(tmp_path / "missing")) == ()


def test_unknown_builder_and_release_are_refused():
    with pytest.raises(ValueError, match="unknown image builder"):
        images.choose_builder("kaniko")
    with pytest.raises(ValueError, match="unsupported Debian release"):
        images.ensure_base_image("buster")
