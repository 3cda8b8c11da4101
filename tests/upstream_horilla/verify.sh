#!/usr/bin/env bash
# Verifies which Debian/Python combination runs the REAL upstream Horilla (never committed
# here: pass a local checkout). For one Debian release it starts a throwaway container of
# the lab base image, installs Debian's Python, PostgreSQL and the build dependencies,
# installs upstream's requirements.txt (and, with --with-ops, this project's horilla-ops[app])
# into a virtualenv and runs what the horilla role runs: `manage.py check`, `migrate`,
# `collectstatic`, `compilemessages`, `createhorillauser`, then gunicorn and a few requests.
#
#   tests/upstream_horilla/verify.sh /path/to/horilla-checkout trixie [--with-ops]
#
# REQUIREMENT_OVERRIDES="PyMuPDF==1.24.14" replaces upstream's line for that package first,
# as the role's horilla_requirement_overrides does.
#
# Output: a log under .lab/upstream-horilla/ and a one-line verdict. Needs Docker and the
# image horilla-lab/debian:<release> (make images / LAB_DEBIAN_RELEASE=bookworm make images).
set -euo pipefail

src=${1:?usage: verify.sh HORILLA_CHECKOUT RELEASE [--with-ops]}
release=${2:?usage: verify.sh HORILLA_CHECKOUT RELEASE [--with-ops]}
with_ops=${3:-}
project=$(cd "$(dirname "$0")/../.." && pwd)
out="$project/.lab/upstream-horilla"
name="horilla-upstream-verify-$release"
mkdir -p "$out"
log="$out/$release${with_ops:+-ops}.log"

docker rm -f "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" \
  -v horilla-lab-pip-cache:/var/cache/lab-pip \
  -v "$(cd "$src" && pwd)":/upstream:ro \
  -v "$project":/project:ro \
  --entrypoint sleep "horilla-lab/debian:$release" infinity >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT

docker exec -i -e WITH_OPS="$with_ops" -e REQUIREMENT_OVERRIDES="${REQUIREMENT_OVERRIDES:-}" "$name" bash -s >"$log" 2>&1 <<'INNER' && verdict=passed || verdict=failed
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv python3-dev build-essential pkg-config \
  libcairo2-dev libpq-dev gettext postgresql curl >/dev/null
. /etc/os-release; echo "DEBIAN $VERSION_ID $(python3 --version)"
pg_ctlcluster "$(ls /etc/postgresql)" main start
runuser -u postgres -- psql -qc "CREATE ROLE horilla LOGIN PASSWORD 'verify-only-password'"
runuser -u postgres -- psql -qc "CREATE DATABASE horilla OWNER horilla"
mkdir -p /srv && cp -a /upstream /srv/horilla && cd /srv/horilla
rm -rf .git
for override in ${REQUIREMENT_OVERRIDES:-}; do
  name=${override%%[=<>!~]*}
  sed -i "/^${name}\([=<>!~ ]\|\$\)/Id" requirements.txt
  echo "$override" >>requirements.txt
done
python3 -m venv /srv/venv
/srv/venv/bin/pip install -q --upgrade pip wheel
if [ -n "${WITH_OPS:-}" ]; then
  # One resolution, as the role's wheelhouse build does: upstream's Django pin holds
  # (installed separately, django-redis 7 would pull Django 5.2+).
  cp -a /project /tmp/project && rm -rf /tmp/project/.venv /tmp/project/.lab
  /srv/venv/bin/pip install -q -r requirements.txt "/tmp/project[app]"
else
  /srv/venv/bin/pip install -q -r requirements.txt
fi
/srv/venv/bin/pip freeze | grep -iE '^(django|psycopg|apscheduler|gunicorn|numpy|pandas|pymupdf|reportlab|pycairo)=='
cat >.env <<ENV
DEBUG=False
SECRET_KEY=verify-only-secret-key-0123456789abcdef0123456789
ALLOWED_HOSTS=localhost,127.0.0.1
CSRF_TRUSTED_ORIGINS=https://localhost
TIME_ZONE=Etc/UTC
DATABASE_URL=postgres://horilla:verify-only-password@127.0.0.1:5432/horilla
ENV
settings=horilla.settings
if [ -n "${WITH_OPS:-}" ]; then
  settings=horilla_ops.settings
  mkdir -p /var/log/horilla
  export HORILLA_OPS_LOG_DIR=/var/log/horilla HORILLA_OPS_INTERNAL_NETWORKS=127.0.0.0/8
fi
export DJANGO_SETTINGS_MODULE=$settings
py=/srv/venv/bin/python
$py manage.py check
$py manage.py check --deploy || true
# Upstream commits no migration files for its own apps (.gitignore: **/migrations/**);
# its entrypoint.sh and README run makemigrations first.
$py manage.py makemigrations --noinput | tail -3
$py manage.py migrate --noinput | tail -3
$py manage.py collectstatic --noinput | tail -1
$py manage.py compilemessages -v 0
$py manage.py createhorillauser --first_name Admin --last_name Verify --username admin \
  --password verify-only-admin-password --email admin@example.com --phone 1234567890
/srv/venv/bin/gunicorn --bind 127.0.0.1:8000 --workers 2 --daemon --pid /tmp/gunicorn.pid horilla.wsgi:application
for _ in $(seq 60); do curl -s -o /dev/null http://127.0.0.1:8000/health/ && break; sleep 1; done
curl -s -w ' %{http_code}\n' http://127.0.0.1:8000/health/
curl -s -o /dev/null -w 'login %{http_code}\n' -H 'X-Forwarded-Proto: https' -H 'Host: localhost' http://127.0.0.1:8000/login/
test "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-Proto: https' -H 'Host: localhost' http://127.0.0.1:8000/login/)" = 200
# Which threads a process that loads Horilla like a gunicorn worker ends up with: upstream
# starts its APScheduler threads at import; behind the ops app's guard there are none.
scheduler_threads() {
  DJANGO_SETTINGS_MODULE=$1 $py - <<'PY'
import threading

import django
from django.urls import get_resolver

django.setup()
get_resolver().url_patterns
print(sum(t.name == "APScheduler" for t in threading.enumerate()))
PY
}
echo "APScheduler threads with horilla.settings: $(scheduler_threads horilla.settings | tail -1)"
if [ -n "${WITH_OPS:-}" ]; then
  test "$(scheduler_threads horilla.settings | tail -1)" -gt 0
  echo "APScheduler threads with horilla_ops.settings: $(scheduler_threads horilla_ops.settings | tail -1)"
  test "$(scheduler_threads horilla_ops.settings | tail -1)" = 0
  curl -sf -w ' %{http_code}\n' http://127.0.0.1:8000/health/ready/
  curl -sf http://127.0.0.1:8000/health/detailed/; echo
  curl -sf http://127.0.0.1:8000/metrics/ | grep -E '^(horilla_health_check_up|horilla_scheduler_leader|django_http_requests_total_by_method_total)'
  # The scheduler service leads (alone) and starts the schedulers it held back.
  HORILLA_OPS_SCHEDULER_ROLE=candidate HORILLA_OPS_NODE_NAME=verify $py -m horilla_ops.scheduler &
  scheduler=$!
  for _ in $(seq 180); do grep -q 'now runs the scheduled jobs' /var/log/horilla/scheduler.log 2>/dev/null && break; sleep 1; done
  grep -h 'scheduler candidate ready\|now runs the scheduled jobs' /var/log/horilla/scheduler.log
  # The web process reports the leader from PostgreSQL's lock table (its node name differs).
  HORILLA_OPS_NODE_NAME=verify DJANGO_SETTINGS_MODULE=horilla_ops.settings $py -c '
import django; django.setup()
from horilla_ops.health.views import scheduler_holder
print("scheduler lock holder:", scheduler_holder())' | tail -1 | tee /tmp/holder
  grep -q 'holder: verify' /tmp/holder
  kill "$scheduler"
fi
kill "$(cat /tmp/gunicorn.pid)"
echo VERIFY-OK
INNER

echo "upstream Horilla on $release${with_ops:+ with horilla-ops}: $verdict (log: $log)"
grep -E '^(DEBIAN|Django==|VERIFY-OK)' "$log" || tail -20 "$log"
[ "$verdict" = passed ]
