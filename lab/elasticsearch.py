"""What the lab's Elasticsearch hosts need from the machine that runs them.

Elastic's APT repository is out of reach of the build machines, Maven Central is not:
the lab installs the Elasticsearch distribution Maven Central carries through the
role's `archive` method. `python -m lab prepare` therefore

- fetches that distribution with Maven into ``.cache/elasticsearch/`` (git-ignored;
  the coordinates are ``lab_elasticsearch_maven_artifact`` in the lab inventory);
- raises ``vm.max_map_count`` to what Elasticsearch's bootstrap checks demand, on this
  machine, whose kernel every container shares (when it may; otherwise it says so and
  the role's preflight stops with the same message);
- builds the lab-only ``nofile_floor`` preload (lab/shims/) when this machine's Docker
  engine caps containers below the 65535 open files Elasticsearch insists on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from lab.state import PROJECT_DIR

LAB_VARS = PROJECT_DIR / "inventory" / "lab" / "group_vars" / "elasticsearch" / "lab.yml"
CACHE_DIR = PROJECT_DIR / ".cache" / "elasticsearch"
SHIM_SOURCE = Path(__file__).resolve().parent / "shims" / "nofile_floor.c"
SHIM = CACHE_DIR / "nofile_floor.so"
MAX_MAP_COUNT = 262144
MAX_MAP_COUNT_FILE = Path("/proc/sys/vm/max_map_count")
NOFILE_FLOOR = 65535
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"


class PrepareError(RuntimeError):
    """Something the Elasticsearch lab hosts need cannot be provided on this machine."""


def maven_artifact(path: Path = LAB_VARS) -> str:
    """groupId:artifactId:version:type of the distribution the lab installs."""
    artifact = yaml.safe_load(path.read_text())["lab_elasticsearch_maven_artifact"]
    parts = artifact.split(":")
    if len(parts) != 4 or not all(parts):
        raise PrepareError(
            f"{path}: lab_elasticsearch_maven_artifact must be group:artifact:version:type, got {artifact!r}"
        )
    return artifact


def archive_path(artifact: str, cache_dir: Path = CACHE_DIR) -> Path:
    _group, artifact_id, version, packaging = artifact.split(":")
    return cache_dir / f"{artifact_id}-{version}.{packaging}"


def fetch_distribution(artifact: str | None = None, cache_dir: Path = CACHE_DIR) -> str:
    """Copy the distribution from Maven (local repository or Maven Central) into the cache."""
    artifact = artifact or maven_artifact()
    target = archive_path(artifact, cache_dir)
    if target.is_file():
        return f"{target.relative_to(PROJECT_DIR)} present"
    if not shutil.which("mvn"):
        raise PrepareError(
            f"Maven (mvn) is needed to fetch {artifact} for the Elasticsearch lab hosts: "
            "install it (Debian: apt-get install maven) and run `python -m lab prepare` again."
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    # --strict-checksums: a download whose checksum Maven Central does not confirm fails.
    result = subprocess.run(
        [
            "mvn",
            "--batch-mode",
            "--quiet",
            "--strict-checksums",
            f"{MAVEN_DEPENDENCY_PLUGIN}:copy",
            f"-Dartifact={artifact}",
            f"-DoutputDirectory={cache_dir}",
        ],
        cwd=cache_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not target.is_file():
        detail = (result.stdout + result.stderr).strip()[-2000:]
        raise PrepareError(f"mvn could not fetch {artifact} into {cache_dir}:\n{detail}")
    return f"{target.relative_to(PROJECT_DIR)} fetched with Maven"


def ensure_max_map_count(path: Path = MAX_MAP_COUNT_FILE, minimum: int = MAX_MAP_COUNT) -> str:
    """Raise vm.max_map_count where this machine allows it; describe what was done."""
    current = int(path.read_text().strip())
    if current >= minimum:
        return f"vm.max_map_count {current}"
    try:
        path.write_text(f"{minimum}\n")
    except OSError as exc:
        return (
            f"WARNING: vm.max_map_count is {current} and could not be raised ({exc.strerror}); Elasticsearch "
            f"lab hosts will not start. Run `sysctl -w vm.max_map_count={minimum}` as root on this machine."
        )
    return f"vm.max_map_count raised from {current} to {minimum}"


def container_nofile_limit(image: str) -> int:
    probe = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", "ulimit -Hn"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise PrepareError(f"could not start a probe container from {image}: {probe.stderr.strip()}")
    value = probe.stdout.strip()
    return 1 << 62 if value == "unlimited" else int(value)


def _shim_digest() -> str:
    return hashlib.sha256(SHIM_SOURCE.read_bytes()).hexdigest()[:16]


def ensure_nofile_shim(image: str) -> str:
    """Build the lab-only nofile_floor preload when containers are capped below 65535 open files."""
    limit = container_nofile_limit(image)
    stamp = SHIM.with_suffix(".sha256")
    if limit >= NOFILE_FLOOR:
        SHIM.unlink(missing_ok=True)
        stamp.unlink(missing_ok=True)
        return f"containers may open {limit} files: no nofile shim needed"
    if SHIM.is_file() and stamp.is_file() and stamp.read_text().strip() == _shim_digest():
        return f"containers may open only {limit} files: lab-only nofile shim present"
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if not compiler:
        return (
            f"WARNING: containers may open only {limit} files (Elasticsearch needs {NOFILE_FLOOR}) and no C "
            "compiler is installed to build the lab-only shim (lab/shims/nofile_floor.c); install gcc, or give "
            f"Docker a higher limit (dockerd --default-ulimit nofile={NOFILE_FLOOR}:{NOFILE_FLOOR})."
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [compiler, "-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-o", str(SHIM), str(SHIM_SOURCE)], check=True
    )
    stamp.write_text(_shim_digest() + "\n")
    return f"containers may open only {limit} files: built the lab-only nofile shim {SHIM.relative_to(PROJECT_DIR)}"


def prepare(image: str) -> list[str]:
    """Everything above, in order; returns one line per step for the prepare output."""
    return [
        "elasticsearch distribution: " + fetch_distribution(),
        "elasticsearch kernel setting: " + ensure_max_map_count(),
        "elasticsearch open files: " + ensure_nofile_shim(image),
    ]
