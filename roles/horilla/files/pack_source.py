#!/usr/bin/env python3
"""Packs a source tree (a directory, or a .tar.gz/.tgz/.zip archive) into a reproducible
.tar.gz on the controller: sorted entries, fixed owner, mode and time, so the same tree
always gives the same bytes and its sha256 names the release on every node.

    pack_source.py --source PATH --out-dir DIR --prefix NAME [--include REL ...]

Prints one JSON object: archive, sha256, release (first 12 hex digits), created (bool),
requirements_sha256 (of requirements.txt at the top of the tree, or "").
A single top-level directory in an archive (GitHub's "horilla-1.0/") is stripped.

Packing a tree of thousands of files costs seconds, on every converge: the result is
remembered under the source's fingerprint (an archive's sha256; a directory's paths,
sizes and mtimes) and reused while the packed archive is still there.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

EXCLUDED_NAMES = {".git", "__pycache__", ".env", "media", "staticfiles", ".venv", "node_modules"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".sqlite3")
FIXED_MTIME = 315532800  # 1980-01-01: zip's epoch, accepted by every tool


def excluded(parts: tuple[str, ...]) -> bool:
    # Only top-level media/ and staticfiles/ are runtime data; deeper dirs of that name are code.
    if parts and parts[0] in {"media", "staticfiles"}:
        return True
    return any(p in EXCLUDED_NAMES - {"media", "staticfiles"} for p in parts) or parts[-1].endswith(EXCLUDED_SUFFIXES)


def entries_from_directory(root: Path, includes: list[str]) -> dict[str, tuple[int, bytes | None]]:
    """relative path -> (mode, content or None for a directory or symlink target as bytes)."""
    out: dict[str, tuple[int, bytes | None]] = {}
    starts = [root / inc for inc in includes] if includes else [root]
    for start in starts:
        if start.is_file():
            out[str(start.relative_to(root))] = (start.stat().st_mode, start.read_bytes())
            continue
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(root)
            dirnames[:] = [d for d in dirnames if not excluded((*rel_dir.parts, d))]
            for name in filenames:
                path = Path(dirpath) / name
                rel = rel_dir / name
                if excluded(rel.parts) or (path.is_symlink() and not path.exists()):
                    continue
                out[str(rel)] = (path.stat().st_mode, path.read_bytes())
    return out


def entries_from_archive(path: Path) -> dict[str, tuple[int, bytes | None]]:
    raw: dict[str, tuple[int, bytes]] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    mode = (info.external_attr >> 16) or 0o644
                    raw[info.filename] = (mode, zf.read(info))
    else:
        with tarfile.open(path) as tf:
            for member in tf.getmembers():
                if member.isfile():
                    raw[member.name] = (member.mode, tf.extractfile(member).read())
    names = [n.lstrip("./") for n in raw]
    tops = {n.split("/", 1)[0] for n in names}
    strip = len(tops) == 1 and all("/" in n for n in names)
    out: dict[str, tuple[int, bytes | None]] = {}
    for name, (mode, data) in raw.items():
        rel = name.lstrip("./").split("/", 1)[1] if strip else name.lstrip("./")
        if rel and not excluded(tuple(rel.split("/"))):
            out[rel] = (mode, data)
    return out


def write_archive(entries: dict[str, tuple[int, bytes | None]], target: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(entries):
            mode, data = entries[name]
            info = tarfile.TarInfo(name)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if mode & stat.S_IXUSR else 0o644
            info.size = len(data or b"")
            tf.addfile(info, io.BytesIO(data or b""))
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(buffer.getvalue())
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".pack-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(compressed.getvalue())
    Path(tmp).chmod(0o644)
    Path(tmp).replace(target)


def fingerprint(source: Path, includes: list[str]) -> str:
    """Changes whenever the packed result could: an archive's bytes, a tree's files."""
    digest = hashlib.sha256("\0".join(includes).encode())
    if source.is_file():
        with source.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    starts = [source / inc for inc in includes] if includes else [source]
    for start in starts:
        paths = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
        for path in paths:
            info = path.stat()
            digest.update(f"{path.relative_to(source)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, type=Path)
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--include", action="append", default=[])
    args = parser.parse_args()
    source = args.source.expanduser()
    memo = (
        args.out_dir
        / ".packed"
        / f"{args.prefix}-{fingerprint(source, args.include) if source.exists() else 'none'}.json"
    )
    if memo.exists():
        known = json.loads(memo.read_text())
        if Path(known["archive"]).exists():
            print(json.dumps({**known, "created": False}))
            return 0
    if source.is_dir():
        entries = entries_from_directory(source, args.include)
    elif source.is_file():
        entries = entries_from_archive(source)
    else:
        print(json.dumps({"failed": True, "msg": f"{source} is neither a directory nor an archive"}))
        return 1
    if not entries:
        print(json.dumps({"failed": True, "msg": f"{source} contains no files"}))
        return 1
    scratch = args.out_dir / f".{args.prefix}-scratch.tar.gz"
    write_archive(entries, scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()
    target = args.out_dir / f"{args.prefix}-{digest[:12]}.tar.gz"
    created = not target.exists()
    scratch.replace(target)
    requirements = entries.get("requirements.txt", (0, b""))[1] or b""
    result = {
        "archive": str(target),
        "sha256": digest,
        "release": digest[:12],
        "created": created,
        "requirements_sha256": hashlib.sha256(requirements).hexdigest() if requirements else "",
        "files": len(entries),
    }
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(json.dumps(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
