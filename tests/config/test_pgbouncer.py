"""Switchboard behind PgBouncer (transaction pooling), as the README's production part says."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SERVER = "postgres://postgres@127.0.0.1:5432"

pytestmark = pytest.mark.postgres


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pgbouncer():
    if not os.path.exists(PGBOUNCER):
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    folder = Path(tempfile.mkdtemp(prefix="switchboard-pgbouncer-"))
    folder.chmod(0o777)  # it drops root for the postgres user, who must read its files
    port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        "* = host=127.0.0.1 port=5432\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder}/users.txt\n"
        "pool_mode = transaction\n"
        # Few server connections for many clients: consecutive transactions of one client
        # really do land on different server sessions.
        "default_pool_size = 3\nmax_client_conn = 100\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [PGBOUNCER, *user, str(folder / "pgbouncer.ini")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    for _ in range(50):
        try:
            psycopg.connect(f"postgres://postgres@127.0.0.1:{port}/postgres").close()
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"pgbouncer did not start: {proc.stdout.read().decode()[-2000:]}")
    yield port
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database():
    name = f"switchboard_pgbouncer_{secrets.token_hex(4)}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def manage(port: int, database: str, *args: str) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/{database}",
        "DATABASE_TRANSACTION_POOLING": "True",
        "REDIS_URL": "",
        "CONN_MAX_AGE": "60",
    }
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_migrations_the_drain_statuses_and_an_export_work_through_transaction_pooling(
    pgbouncer, database
):
    manage(pgbouncer, database, "manage.py", "migrate", "--noinput")
    result = json.loads(
        manage(pgbouncer, database, "tests/config/pgbouncer_exercise.py").strip().splitlines()[-1]
    )
    assert result["port"] == pgbouncer
    assert result["server_side_cursors_disabled"] is True
    assert result["prepare_threshold"] is None
    assert result["errors"] == []
    assert result["drained"] == 40
    assert result["messages_in"] == result["distinct_in"] == 40
    assert result["read"] == 10
    assert result["events"] == {"processed": 50}
    assert result["export_bytes"] > 0
    # Read back row by row while other clients shuffled the server sessions: without the
    # settings this fails with 'cursor "_django_curs_..." does not exist'.
    assert result["read_back"] == 50
