"""The cluster scenario reuses the helpers of the tiers' own scenarios (the load
balancer's runtime API and VIP, Patroni's REST API, the Sentinels): their test
directories are put on the import path, and sitedrill.py points them at this lab."""

import sys
from pathlib import Path

MOLECULE = Path(__file__).resolve().parent.parent.parent
for tier in ("loadbalancer", "postgresql", "redis"):
    path = str(MOLECULE / tier / "tests")
    if path not in sys.path:
        sys.path.append(path)
