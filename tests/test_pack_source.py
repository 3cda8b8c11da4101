"""roles/horilla/files/pack_source.py: the same tree always packs to the same bytes, runtime
data stays out, and an archive's single top-level directory is stripped."""

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "roles" / "horilla" / "files" / "pack_source.py"


def pack(source: Path, out: Path, *extra: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(source), "--out-dir", str(out), "--prefix", "horilla", *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def make_tree(root: Path) -> Path:
    (root / "horilla").mkdir(parents=True)
    (root / "horilla" / "settings.py").write_text("DEBUG = False\n")
    (root / "manage.py").write_text("#!/usr/bin/env python3\n")
    (root / "manage.py").chmod(0o755)
    (root / "requirements.txt").write_text("Django==4.2.24\n")
    for runtime in (".env", "media/photo.png", "staticfiles/app.css", "horilla/__pycache__/x.pyc", ".git/HEAD"):
        (root / runtime).parent.mkdir(parents=True, exist_ok=True)
        (root / runtime).write_text("not code")
    (root / "static" / "media").mkdir(parents=True)
    (root / "static" / "media" / "icon.svg").write_text("<svg/>")
    return root


def names(archive: str) -> list[str]:
    with tarfile.open(archive) as tf:
        return tf.getnames()


def test_same_tree_same_release_and_only_code(tmp_path):
    tree = make_tree(tmp_path / "src")
    first = pack(tree, tmp_path / "out")
    (tree / "manage.py").touch()  # a new mtime changes nothing
    second = pack(tree, tmp_path / "out")
    assert first["release"] == second["release"] and first["created"] and not second["created"]
    assert sorted(names(first["archive"])) == [
        "horilla/settings.py",
        "manage.py",
        "requirements.txt",
        "static/media/icon.svg",
    ], "runtime data (.env, top-level media/ and staticfiles/, caches, .git) stays out"
    assert first["requirements_sha256"]
    with tarfile.open(first["archive"]) as tf:
        assert tf.getmember("manage.py").mode == 0o755
        assert {m.uid for m in tf.getmembers()} == {0}


def test_a_change_makes_a_new_release(tmp_path):
    tree = make_tree(tmp_path / "src")
    first = pack(tree, tmp_path / "out")
    (tree / "horilla" / "settings.py").write_text("DEBUG = True\n")
    assert pack(tree, tmp_path / "out")["release"] != first["release"]


def test_an_archive_packs_like_its_directory(tmp_path):
    tree = make_tree(tmp_path / "horilla-1.0")
    from_dir = pack(tree, tmp_path / "out-dir")
    zipped = tmp_path / "horilla-1.0.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(str(path.relative_to(tmp_path)))
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                zf.writestr(info, path.read_bytes())
    from_zip = pack(zipped, tmp_path / "out-zip")
    assert from_zip["release"] == from_dir["release"], "GitHub's top-level directory is stripped"


def test_include_limits_the_tree(tmp_path):
    tree = make_tree(tmp_path / "src")
    packed = pack(tree, tmp_path / "out", "--include", "horilla", "--include", "requirements.txt")
    assert sorted(names(packed["archive"])) == ["horilla/settings.py", "requirements.txt"]


def test_a_missing_source_fails_clearly(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(tmp_path / "nope"), "--out-dir", str(tmp_path), "--prefix", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "neither a directory nor an archive" in json.loads(result.stdout)["msg"]


def test_a_second_pack_of_the_same_tree_reuses_the_archive_and_a_change_repacks(tmp_path):
    tree = make_tree(tmp_path / "src")
    first = pack(tree, tmp_path / "out")
    again = pack(tree, tmp_path / "out")
    assert first["created"] is True and again["created"] is False
    assert again["sha256"] == first["sha256"]
    (tree / "horilla" / "settings.py").write_text("DEBUG = True\n")
    changed = pack(tree, tmp_path / "out")
    assert changed["created"] is True and changed["sha256"] != first["sha256"]
