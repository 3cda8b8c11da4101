#!/usr/bin/env python3
"""Builds the horilla_ops wheel on the controller, only when its source changed.

    build_wheel.py --project DIR --out-dir DIR

`pip wheel` of the project (pyproject.toml, src/) costs seconds on every converge; the
wheel is kept with a fingerprint of its source (paths, sizes, mtimes) and rebuilt only
when that changes. SOURCE_DATE_EPOCH (set by the role) keeps a rebuilt wheel of an
unchanged source byte-identical. Prints {"built": bool, "wheel": path}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path


def fingerprint(project: Path) -> str:
    digest = hashlib.sha256()
    paths = [project / "pyproject.toml", *sorted((project / "src").rglob("*"))]
    for path in paths:
        # What a build writes into the tree (egg-info, bytecode) is not source.
        if path.is_file() and not any(p == "__pycache__" or p.endswith(".egg-info") for p in path.parts):
            info = path.stat()
            digest.update(f"{path.relative_to(project)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True, type=Path)
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--wheel-name", required=True)
    args = parser.parse_args()
    wheel = args.out_dir / args.wheel_name
    stamp = args.out_dir / f".{args.wheel_name}.source"
    current = fingerprint(args.project)
    if wheel.exists() and stamp.exists() and stamp.read_text() == current:
        print(json.dumps({"built": False, "wheel": str(wheel)}))
        return 0
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(args.out_dir),
            str(args.project),
        ],
        check=True,
        stdout=sys.stderr,
    )
    stamp.write_text(current)
    print(json.dumps({"built": True, "wheel": str(wheel)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
