"""One client per tier of the whole site, for the cluster scenario's tests and drills.

Each module talks to one tier of a running lab (named by $LAB_NAME) the way its clients
do: `postgres` through Patroni's REST API and HAProxy, `cache` through the Sentinels,
`search` over TLS as the `elastic` user, `balancer` through HAProxy's runtime API and
the VIP, `monitoring` through Prometheus' and Alertmanager's APIs, `app` through the VIP
and the app nodes. `health` says whether the whole site is healthy, `report` writes the
drills' figures in one shape. Hosts, addresses and secrets come from lab.testing.
"""
