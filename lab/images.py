"""Build the lab's base images locally, without a registry.

Each image carries a label with the hash of its recipe (package list, customize.sh,
the extra CA certificates, the Dockerfile); an image is rebuilt only when that hash
changes. mmdebstrap (Debian's archive, no registry) is used when installed, a
Dockerfile build from the registry's ``debian`` image otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lab import docker

HERE = Path(__file__).resolve().parent / "images"
RELEASES = ("trixie", "bookworm")
RECIPE_LABEL = "org.horilla-lab.recipe"
BASE_REPOSITORY = "horilla-lab/debian"
APT_CACHE_IMAGE = "horilla-lab/apt-cache:latest"

# What every lab host has before Ansible touches it: an init, python3 for Ansible,
# python3-apt for the apt module, and the tools the tests use to look inside.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "python3",
    "python3-apt",
    "ca-certificates",
    "iproute2",
    "iputils-ping",
    "procps",
    "curl",
    "less",
)


@dataclass(frozen=True)
class Recipe:
    """Everything that determines the content of one base image."""

    release: str
    packages: tuple[str, ...] = BASE_PACKAGES
    ca_certificates: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def tag(self) -> str:
        return f"{BASE_REPOSITORY}:{self.release}"

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(self.release.encode())
        h.update("\0".join(self.packages).encode())
        for name in ("customize.sh", "Dockerfile"):
            h.update((HERE / name).read_bytes())
        for cert in sorted(self.ca_certificates):
            h.update(cert.name.encode())
            h.update(cert.read_bytes())
        return h.hexdigest()[:16]


def extra_ca_certificates(directory: str | None = None) -> tuple[Path, ...]:
    """CA certificates the build host trusts beyond Debian's bundle.

    A TLS-inspecting proxy or a corporate CA lives here; images trust the same set.
    ``LAB_EXTRA_CA_DIR`` points elsewhere; an empty value disables the feature.
    """
    if directory is None:
        directory = os.environ.get("LAB_EXTRA_CA_DIR", "/usr/local/share/ca-certificates")
    if not directory:
        return ()
    path = Path(directory)
    if not path.is_dir():
        return ()
    return tuple(sorted(p for p in path.rglob("*.crt") if p.is_file()))


def choose_builder(requested: str = "auto") -> str:
    if requested not in ("auto", "mmdebstrap", "dockerfile"):
        raise ValueError(f"unknown image builder {requested!r}: use auto, mmdebstrap or dockerfile")
    if requested != "auto":
        return requested
    return "mmdebstrap" if shutil.which("mmdebstrap") else "dockerfile"


def _build_mmdebstrap(recipe: Recipe, digest: str) -> None:
    mirror = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    with tempfile.TemporaryDirectory(prefix="horilla-lab-image-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        hooks = [
            f"--customize-hook=upload {HERE / 'customize.sh'} /tmp/customize.sh",
        ]
        for cert in recipe.ca_certificates:
            hooks.append(f"--customize-hook=upload {cert} /usr/local/share/ca-certificates/{cert.name}")
        hooks += [
            '--customize-hook=chroot "$1" sh /tmp/customize.sh',
            '--customize-hook=rm -f "$1/tmp/customize.sh"',
        ]
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=apt",
                "--include=" + ",".join(recipe.packages),
                *hooks,
                recipe.release,
                str(tarball),
                mirror,
            ],
            check=True,
        )
        subprocess.run(
            [
                "docker",
                "import",
                "--change",
                'CMD ["/lib/systemd/systemd"]',
                "--change",
                "ENV container=docker",
                "--change",
                f"LABEL {RECIPE_LABEL}={digest}",
                str(tarball),
                recipe.tag,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def _build_dockerfile(recipe: Recipe, digest: str) -> None:
    with tempfile.TemporaryDirectory(prefix="horilla-lab-image-") as tmp:
        context = Path(tmp)
        shutil.copy(HERE / "Dockerfile", context / "Dockerfile")
        shutil.copy(HERE / "customize.sh", context / "customize.sh")
        (context / "extra-ca").mkdir()
        for cert in recipe.ca_certificates:
            shutil.copy(cert, context / "extra-ca" / cert.name)
        subprocess.run(
            [
                "docker",
                "build",
                "--build-arg",
                f"RELEASE={recipe.release}",
                "--build-arg",
                "PACKAGES=" + " ".join(recipe.packages),
                "--label",
                f"{RECIPE_LABEL}={digest}",
                "--tag",
                recipe.tag,
                str(context),
            ],
            check=True,
        )


def ensure_base_image(release: str, builder: str = "auto", force: bool = False) -> bool:
    """Build ``horilla-lab/debian:<release>`` unless an image of the same recipe exists.

    Returns True when an image was built.
    """
    if release not in RELEASES:
        raise ValueError(f"unsupported Debian release {release!r}: choose one of {RELEASES}")
    recipe = Recipe(release=release, ca_certificates=extra_ca_certificates())
    digest = recipe.digest()
    if not force and docker.image_label(recipe.tag, RECIPE_LABEL) == digest:
        return False
    how = choose_builder(builder)
    print(f"building {recipe.tag} with {how} (recipe {digest})", flush=True)
    if how == "mmdebstrap":
        _build_mmdebstrap(recipe, digest)
    else:
        _build_dockerfile(recipe, digest)
    return True


def ensure_apt_cache_image(force: bool = False) -> bool:
    """Build the apt-cacher-ng image on top of the trixie base image."""
    base = f"{BASE_REPOSITORY}:trixie"
    ensure_base_image("trixie")
    h = hashlib.sha256((HERE / "Dockerfile.apt-cache").read_bytes())
    h.update(docker.image_id(base).encode())
    digest = h.hexdigest()[:16]
    if not force and docker.image_label(APT_CACHE_IMAGE, RECIPE_LABEL) == digest:
        return False
    print(f"building {APT_CACHE_IMAGE} (recipe {digest})", flush=True)
    subprocess.run(
        [
            "docker",
            "build",
            "--file",
            str(HERE / "Dockerfile.apt-cache"),
            "--build-arg",
            f"BASE={base}",
            "--label",
            f"{RECIPE_LABEL}={digest}",
            "--tag",
            APT_CACHE_IMAGE,
            str(HERE),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return True
