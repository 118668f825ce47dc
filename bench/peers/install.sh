#!/usr/bin/env bash
# Create bench/.peers-venv with the peer job queues, pinned, and conveyor from
# this repository (editable, with its Redis and PostgreSQL extras), so that
# bench/peers/run.py measures every library on the same interpreter.
#
#   bench/peers/install.sh                       # create or update
#   PYTHON=python3.12 bench/peers/install.sh     # another interpreter
#
# One environment cannot hold every peer, because of their redis-py pins:
# arq 0.28 requires redis-py < 6, kombu 5.7 (Celery's Redis transport) >= 6.4,
# SAQ 0.26 < 8, and taskiq-redis >= 1.2.3 >= 8 (taskiq-redis 1.2.2, the last
# for redis-py 7, fails to import with taskiq 0.13). So arq and Taskiq get
# environments of their own inside this one, bench/.peers-venv/arq and
# bench/.peers-venv/taskiq, and run.py starts their runners with those
# interpreters; the main environment holds redis-py 7.4. Typer stays below
# 0.26 (which vendors Click): with 0.26 and later, ``pgqueuer run`` 1.6.0 fails
# while parsing its own --log-level default.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/bench/.peers-venv"
python="${PYTHON:-python3}"

make_venv() {
    [[ -x "$1/bin/python" ]] || "$python" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
}

make_venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    'redis[hiredis]==7.4.1' \
    'celery[redis]==5.7.0' \
    'rq==2.12.0' \
    'dramatiq[redis]==2.2.1' \
    'huey==3.5.4' \
    'saq[redis,hiredis]==0.26.4' \
    'procrastinate==3.10.0' \
    'psycopg[binary,pool]==3.3.9' \
    'pgqueuer[asyncpg]==1.6.0' \
    'asyncpg==0.32.0' \
    'typer==0.25.1'
# conveyor itself, from this checkout.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[redis,postgres]"

make_venv "$venv/arq"
"$venv/arq/bin/python" -m pip install --quiet --disable-pip-version-check \
    'arq==0.28.0' 'redis[hiredis]==5.3.1'

make_venv "$venv/taskiq"
"$venv/taskiq/bin/python" -m pip install --quiet --disable-pip-version-check \
    'taskiq==0.13.0' 'taskiq-redis==1.2.4' 'redis[hiredis]==8.1.0'

# Every installed module compiled to bytecode, as pip does unless the
# environment sets PYTHONDONTWRITEBYTECODE (recent pip then compiles nothing,
# and each worker would compile its library again at every start-up, inside
# the measured drain).
for env in "$venv" "$venv/arq" "$venv/taskiq"; do
    "$env/bin/python" -c 'import compileall, sys, sysconfig
sys.exit(not compileall.compile_dir(sysconfig.get_path("purelib"), quiet=1, workers=0))'
done

report='
import sys
from importlib.metadata import PackageNotFoundError, version

for name in sys.argv[1:]:
    try:
        print(f"  {name:<14} {version(name)}")
    except PackageNotFoundError:
        print(f"  {name:<14} not installed")
'
echo "bench/.peers-venv ($("$venv/bin/python" --version)):"
"$venv/bin/python" -c "$report" conveyor celery kombu rq dramatiq huey saq procrastinate \
    pgqueuer redis hiredis psycopg asyncpg typer
echo "bench/.peers-venv/arq ($("$venv/arq/bin/python" --version)):"
"$venv/arq/bin/python" -c "$report" arq redis hiredis
echo "bench/.peers-venv/taskiq ($("$venv/taskiq/bin/python" --version)):"
"$venv/taskiq/bin/python" -c "$report" taskiq taskiq-redis redis hiredis
