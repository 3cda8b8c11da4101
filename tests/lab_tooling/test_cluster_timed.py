"""molecule/cluster/timed.py: the converge figures in the drill report come from the
PLAY RECAP as Molecule prints it (framed, coloured), not from a guess."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("timed", ROOT / "molecule" / "cluster" / "timed.py")
timed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timed)

MOLECULE_OUTPUT = [
    "  \x1b[2m│\x1b[0m PLAY RECAP *****\n",
    "  \x1b[2m│\x1b[0m \x1b[0;33mapp1\x1b[0m                       : "
    "\x1b[0;32mok=168 \x1b[0m \x1b[0;33mchanged=73  \x1b[0m unreachable=0    failed=0    skipped=96\n",
    "  │ mon1                       : ok=250  changed=0   unreachable=0    failed=1    skipped=1\n",
    "db1                        : ok=160  changed=2   unreachable=1    failed=0\n",
    "  │ TASK [common : changed=9 is not a recap line]\n",
]


def test_recap_totals_sum_every_host_framed_or_not():
    assert timed.recap_totals(MOLECULE_OUTPUT) == {
        "hosts_in_recap": 3,
        "ok": 578,
        "changed": 75,
        "unreachable": 1,
        "failed": 1,
    }


def test_record_keeps_the_other_timings(tmp_path):
    report = tmp_path / "cluster.json"
    timed.record("converge_cold", {"seconds": 1.0}, report)
    timed.record("idempotent_rerun", {"seconds": 2.0}, report)
    assert json.loads(report.read_text())["timings"] == {
        "converge_cold": {"seconds": 1.0},
        "idempotent_rerun": {"seconds": 2.0},
    }
