"""One active scheduler in the whole cluster.

Upstream Horilla starts APScheduler ``BackgroundScheduler`` instances at import time in
several apps, so every gunicorn worker on every node would run every job. Here:

- ``guard`` is installed by the wrapper settings before upstream is imported. In web
  processes (the default) it keeps every APScheduler from starting; in the
  ``horilla-scheduler`` service it holds them back until this node is the leader.
- ``lock`` is the leader election: a PostgreSQL session advisory lock, with a lease on
  top so that a frozen or cut-off leader is evicted within a bounded time.
- ``service`` (``python -m horilla_ops.scheduler``) is the per-node systemd service.
"""
