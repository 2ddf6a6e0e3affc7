import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "False",
    "SECRET_KEY": "k7#Qp2!vZ9rT4wX8yB1nM6cL3hJ5gF0dS2aE7uI9oP4qW8eR1tY6",
    "ALLOWED_HOSTS": "switchboard.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://switchboard.example.com",
    "SECURE_SSL_REDIRECT": "True",
    "SESSION_COOKIE_SECURE": "True",
    "CSRF_COOKIE_SECURE": "True",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True",
    "SECURE_HSTS_PRELOAD": "True",
    "DATABASE_URL": "sqlite:////tmp/switchboard-deploy-check.sqlite3",
    "SECRETS_ENCRYPTION_KEYS": "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=",
}


def run_django(args, env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def read_settings(env_overrides, *names):
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: str(getattr(s, n)) for n in {list(names)!r}}}))"
    )
    result = run_django(["-c", code], env_overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_it_reads_values_from_the_environment():
    values = read_settings(
        {
            "DEBUG": "False",
            "SECRET_KEY": "x" * 60,
            "SECRETS_ENCRYPTION_KEYS": "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=",
            "ALLOWED_HOSTS": "a.example.com,b.example.com",
            "TIME_ZONE": "Europe/Madrid",
            "PHONE_DEFAULT_REGION": "ES",
            "DATABASE_URL": "postgres://u:p@db.example.com:5433/sb",
        },
        "DEBUG",
        "ALLOWED_HOSTS",
        "TIME_ZONE",
        "PHONE_DEFAULT_REGION",
        "DATABASES",
    )
    assert values["DEBUG"] == "False"
    assert values["ALLOWED_HOSTS"] == "['a.example.com', 'b.example.com']"
    assert values["TIME_ZONE"] == "Europe/Madrid"
    assert values["PHONE_DEFAULT_REGION"] == "ES"
    assert "'HOST': 'db.example.com'" in values["DATABASES"]
    assert "'PORT': 5433" in values["DATABASES"]


def test_it_defaults_to_sqlite_and_the_orm_broker_for_a_local_run():
    values = read_settings({"DATABASE_URL": "", "REDIS_URL": ""}, "DATABASES", "Q_CLUSTER", "DEBUG")
    assert "sqlite3" in values["DATABASES"]
    assert "'transaction_mode': 'IMMEDIATE'" in values["DATABASES"]
    assert "'orm': 'default'" in values["Q_CLUSTER"]
    assert values["DEBUG"] == "True"


def test_it_uses_redis_as_broker_when_redis_url_is_set():
    values = read_settings({"REDIS_URL": "redis://127.0.0.1:6379/3"}, "Q_CLUSTER")
    assert "'redis': 'redis://127.0.0.1:6379/3'" in values["Q_CLUSTER"]
    assert "'orm'" not in values["Q_CLUSTER"]


def test_task_retry_outlasts_the_timeout_and_attempts_are_bounded():
    from django.conf import settings

    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
    assert 0 < settings.Q_CLUSTER["max_attempts"] <= 10


def test_production_values_pass_check_deploy_without_warnings():
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_to_start_without_a_secret_key_in_production():
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = run_django(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off" in result.stderr


def test_it_refuses_to_start_without_allowed_hosts_in_production():
    env = {**PRODUCTION, "ALLOWED_HOSTS": ""}
    result = run_django(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_it_refuses_to_start_without_an_encryption_key_in_production():
    env = {**PRODUCTION, "SECRETS_ENCRYPTION_KEYS": ""}
    result = run_django(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRETS_ENCRYPTION_KEYS must be set" in result.stderr
