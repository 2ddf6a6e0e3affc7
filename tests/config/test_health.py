from unittest import mock

import pytest

pytestmark = pytest.mark.django_db


def test_it_answers_200_when_database_and_broker_are_fine(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True


def test_it_answers_503_when_the_broker_is_down(client):
    broken = mock.Mock()
    broken.ping.side_effect = ConnectionError("Connection refused")
    with mock.patch("config.health.get_broker", return_value=broken):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["broker"] == {"ok": False, "error": "ConnectionError: Connection refused"}
    assert body["database"]["ok"] is True


def test_it_answers_503_when_the_database_is_down(client):
    with mock.patch("config.health.connection") as conn:
        conn.cursor.side_effect = RuntimeError("server closed the connection")
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"]["ok"] is False
