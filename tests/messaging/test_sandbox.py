"""The sandbox answers like Meta's Graph API and posts signed webhooks back to Switchboard."""

import hashlib
import hmac
import json
import re
import threading
import time
from unittest import mock
from urllib.parse import urlsplit

import pytest

from integrations.models import IntegrationAccount
from messaging.models import Channel
from messaging.sandbox import emulator

pytestmark = pytest.mark.django_db

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAtest"
GRAPH = f"/sandbox/graph/v23.0/{PHONE_NUMBER_ID}"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
WA_ID = "393331234567"


@pytest.fixture
def account(db):
    return IntegrationAccount.objects.create(
        description="Sandbox WABA",
        platform="whatsapp_cloud",
        settings={"waba_id": WABA_ID, "app_id": "1234567890"},
        secrets={"app_secret": "s3cret", "verify_token": "tok", "access_token": TOKEN},
    )


@pytest.fixture
def channel(account):
    return Channel.objects.create(
        name="Support line",
        account=account,
        provider="whatsapp_cloud",
        external_id=PHONE_NUMBER_ID,
        display_number="15550199234",
    )


@pytest.fixture(autouse=True)
def sandbox(settings):
    """The sandbox on, fast statuses, and every webhook post captured instead of sent."""
    settings.SANDBOX_ENABLED = True
    settings.SANDBOX_STATUS_DELAY = 0.01
    settings.PUBLIC_BASE_URL = "http://switchboard.test"
    emulator.reset()
    with mock.patch("requests.post", return_value=mock.Mock(status_code=200)) as post:
        yield post
        # Status threads must not outlive the patch and post for real into the next test.
        for thread in threading.enumerate():
            if thread.name.startswith("sandbox-status-"):
                thread.join(timeout=5)
    emulator.reset()


def send(client, body, **headers):
    payload = {"messaging_product": "whatsapp", "recipient_type": "individual", **body}
    return client.post(
        f"{GRAPH}/messages",
        data=json.dumps(payload),
        content_type="application/json",
        **(headers or AUTH),
    )


def text(to="393331234567", body="Hello from the desk"):
    return {"to": to, "type": "text", "text": {"body": body}}


def template(name="ticket_update", code="en_US", params=("Olivia", "#4821", "fixed")):
    return {
        "to": "393331234567",
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": code},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
            ],
        },
    }


def posted_payloads(post):
    return [json.loads(call.kwargs["data"]) for call in post.call_args_list]


def statuses_for(post, wamid, count, timeout=5.0):
    """Wait (bounded) until `count` status webhooks for `wamid` were posted; return them."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            status
            for payload in posted_payloads(post)
            for status in payload["entry"][0]["changes"][0]["value"].get("statuses", [])
            if status["id"] == wamid
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def graph_error(response):
    return response.json()["error"]


class TestSend:
    def test_it_accepts_a_text_message_with_metas_answer(self, client, channel):
        response = send(client, text(to="+39 333 123 4567"))
        assert response.status_code == 200
        body = response.json()
        assert body["messaging_product"] == "whatsapp"
        assert body["contacts"] == [{"input": "+39 333 123 4567", "wa_id": "393331234567"}]
        assert len(body["messages"]) == 1
        assert body["messages"][0]["id"].startswith("wamid.")
        assert "message_status" not in body["messages"][0]

    def test_it_marks_template_sends_accepted(self, client, channel):
        response = send(client, template(name="ticket_update", code="it"))
        assert response.status_code == 200
        assert response.json()["messages"][0]["message_status"] == "accepted"

    @pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer wrong"}])
    def test_it_refuses_a_missing_or_wrong_bearer_with_190(self, client, channel, headers):
        response = client.post(
            f"{GRAPH}/messages",
            data=json.dumps({"messaging_product": "whatsapp", **text()}),
            content_type="application/json",
            **headers,
        )
        assert response.status_code == 401
        error = graph_error(response)
        assert error["code"] == 190
        assert error["type"] == "OAuthException"
        assert error["fbtrace_id"]

    def test_it_refuses_an_unknown_template_with_132001(self, client, channel):
        response = send(client, template(name="order_shiped"))
        assert response.status_code == 400
        error = graph_error(response)
        assert error["code"] == 132001
        assert error["error_data"] == {
            "messaging_product": "whatsapp",
            "details": "template name (order_shiped) does not exist in en_US",
        }

    def test_it_refuses_a_template_that_is_not_approved(self, client, channel):
        response = send(client, template(name="appointment_reminder", params=("Olivia", "May 3")))
        assert graph_error(response)["code"] == 132001

    def test_it_refuses_a_wrong_parameter_count_with_132000(self, client, channel):
        response = send(client, template(params=("Olivia", "#4821")))
        assert response.status_code == 400
        error = graph_error(response)
        assert error["code"] == 132000
        assert (
            "(2) does not match the expected number of params (3)" in error["error_data"]["details"]
        )

    def test_it_refuses_a_missing_recipient_with_131008(self, client, channel):
        response = send(client, {"type": "text", "text": {"body": "hi"}})
        assert response.status_code == 400
        assert graph_error(response)["code"] == 131008

    def test_it_refuses_a_text_longer_than_4096_with_131009(self, client, channel):
        response = send(client, text(body="x" * 4097))
        assert response.status_code == 400
        assert graph_error(response)["code"] == 131009

    def test_it_answers_130429_at_once_for_a_number_ending_in_0429(self, client, channel, sandbox):
        response = send(client, text(to="393331230429"))
        assert response.status_code == 400
        error = graph_error(response)
        assert error["code"] == 130429
        assert error["message"] == "(#130429) Rate limit hit"
        assert error["error_data"]["messaging_product"] == "whatsapp"
        time.sleep(0.1)
        assert sandbox.call_count == 0


class TestStatuses:
    def test_it_posts_sent_delivered_read_signed_to_the_account_webhook(
        self, client, channel, account, sandbox
    ):
        body = {**template(), "biz_opaque_callback_data": "msg:42"}
        wamid = send(client, body).json()["messages"][0]["id"]

        statuses = statuses_for(sandbox, wamid, 3)

        assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
        for status in statuses:
            assert status["recipient_id"] == "393331234567"
            assert status["biz_opaque_callback_data"] == "msg:42"
            assert "conversation" not in status
        assert statuses[0]["pricing"] == {
            "billable": True,
            "pricing_model": "PMP",
            "category": "utility",
            "type": "regular",
        }
        call = sandbox.call_args_list[0]
        assert call.args[0] == f"http://switchboard.test/webhooks/whatsapp/{account.key}/"
        expected = hmac.new(b"s3cret", call.kwargs["data"], hashlib.sha256).hexdigest()
        assert call.kwargs["headers"]["X-Hub-Signature-256"] == f"sha256={expected}"
        assert call.kwargs["timeout"] == 10
        value = json.loads(call.kwargs["data"])["entry"][0]["changes"][0]["value"]
        assert value["metadata"] == {
            "display_phone_number": "15550199234",
            "phone_number_id": PHONE_NUMBER_ID,
        }

    def test_it_fails_free_text_to_a_1047_number_with_131047(self, client, channel, sandbox):
        wamid = send(client, text(to="393331231047")).json()["messages"][0]["id"]
        time.sleep(0.1)
        statuses = statuses_for(sandbox, wamid, 1)
        assert [s["status"] for s in statuses] == ["failed"]
        assert statuses[0]["errors"][0]["code"] == 131047
        assert statuses[0]["errors"][0]["title"] == "Re-engagement message"

    def test_it_delivers_templates_to_a_1047_number(self, client, channel, sandbox):
        wamid = send(client, {**template(), "to": "393331231047"}).json()["messages"][0]["id"]
        statuses = statuses_for(sandbox, wamid, 3)
        assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]

    def test_it_sends_then_fails_a_1026_number_with_131026(self, client, channel, sandbox):
        wamid = send(client, text(to="393331231026")).json()["messages"][0]["id"]
        statuses = statuses_for(sandbox, wamid, 2)
        assert [s["status"] for s in statuses] == ["sent", "failed"]
        assert statuses[1]["errors"][0]["code"] == 131026


class TestTemplates:
    def test_it_pages_through_every_template(self, client, account):
        url = f"/sandbox/graph/v23.0/{WABA_ID}/message_templates"
        pages = []
        while url:
            response = client.get(url, **AUTH)
            assert response.status_code == 200
            pages.append(response.json())
            next_url = pages[-1]["paging"].get("next")
            if next_url:
                assert next_url.startswith("http://testserver/sandbox/graph/")
            url = next_url and urlsplit(next_url).path + "?" + urlsplit(next_url).query
            assert len(pages) <= 10

        names = [(t["name"], t["language"]) for page in pages for t in page["data"]]
        assert names == [(t["name"], t["language"]) for t in emulator.DEMO_TEMPLATES]
        assert all(len(page["data"]) <= 2 for page in pages)
        assert len(pages) == 5
        assert "next" not in pages[-1]["paging"]
        assert set(pages[0]["paging"]["cursors"]) == {"before", "after"}
        ticket = pages[0]["data"][0]
        assert ticket["components"][0]["type"] == "BODY"
        assert ticket["status"] == "APPROVED"
        statuses = {t["status"] for page in pages for t in page["data"]}
        assert statuses == {"APPROVED", "PENDING"}

    def test_it_refuses_the_template_list_without_the_token(self, client, account):
        response = client.get(f"/sandbox/graph/v23.0/{WABA_ID}/message_templates")
        assert response.status_code == 401
        assert graph_error(response)["code"] == 190

    def test_it_answers_the_waba_with_its_name(self, client, account):
        response = client.get(f"/sandbox/graph/v23.0/{WABA_ID}", **AUTH)
        assert response.json() == {"id": WABA_ID, "name": "Sandbox WABA"}


class TestMarkRead:
    def test_it_marks_a_customer_message_read_and_shows_blue_ticks(self, client, channel):
        sub = emulator.subscription_for_number(PHONE_NUMBER_ID)
        first, _ = emulator.customer_sends(
            sub, "393331234567", "Olivia", {"kind": "text", "text": "a"}
        )
        second, _ = emulator.customer_sends(
            sub, "393331234567", "Olivia", {"kind": "text", "text": "b"}
        )

        response = send(client, {"status": "read", "message_id": second.id})

        assert response.status_code == 200
        assert response.json() == {"success": True}
        state = client.get(f"/sandbox/chat/{PHONE_NUMBER_ID}/393331234567/state").json()
        assert [m["status"] for m in state["messages"]] == ["read", "read"]
        assert first.status == "read"

    def test_it_refuses_an_unknown_message_id_with_131009(self, client, channel):
        response = send(client, {"status": "read", "message_id": "wamid.nope"})
        assert response.status_code == 400
        error = graph_error(response)
        assert error["code"] == 131009
        assert error["error_data"]["details"] == "Invalid WhatsApp message ID"


class TestMedia:
    def test_it_uploads_describes_downloads_and_deletes_media(self, client, channel):
        png = emulator.tiny_png()
        upload = client.post(
            f"{GRAPH}/media",
            data={
                "messaging_product": "whatsapp",
                "type": "image/png",
                "file": _file("label.png", png),
            },
            **AUTH,
        )
        assert upload.status_code == 200
        media_id = upload.json()["id"]

        described = client.get(f"/sandbox/graph/v23.0/{media_id}", **AUTH).json()
        assert described["messaging_product"] == "whatsapp"
        assert described["id"] == media_id
        assert described["mime_type"] == "image/png"
        assert described["sha256"] == hashlib.sha256(png).hexdigest()
        assert described["file_size"] == str(len(png))
        assert described["url"].startswith("http://testserver/sandbox/media/")

        path = urlsplit(described["url"]).path
        assert client.get(path).status_code == 401
        download = client.get(path, **AUTH)
        assert download.status_code == 200
        assert download.content == png
        assert download["Content-Type"] == "image/png"

        deleted = client.delete(f"/sandbox/graph/v23.0/{media_id}", **AUTH)
        assert deleted.json() == {"success": True}
        assert client.get(path, **AUTH).status_code == 400

    def test_it_refuses_an_upload_without_the_token(self, client, channel):
        response = client.post(
            f"{GRAPH}/media",
            data={"messaging_product": "whatsapp", "file": _file("a.png", b"x")},
        )
        assert response.status_code == 401


def _file(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="image/png")


class TestCustomerPage:
    def test_it_lists_the_channels_and_the_error_numbers(self, client, channel):
        response = client.get("/sandbox/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "Support line" in page
        assert PHONE_NUMBER_ID in page
        assert "+39 333 123 1047" in page
        assert "+39 333 123 0429" in page

    def test_it_opens_the_chat_for_the_typed_number(self, client, channel):
        response = client.get(
            "/sandbox/",
            {"channel": PHONE_NUMBER_ID, "number": "+39 333 123 4567", "name": "Demo Customer"},
        )
        assert response.status_code == 302
        assert response["Location"] == (
            f"/sandbox/chat/{PHONE_NUMBER_ID}/393331234567/?name=Demo+Customer"
        )
        chat = client.get(response["Location"])
        assert chat.status_code == 200
        assert b"sandbox/sandbox.js" in chat.content
        assert b"Demo Customer" in chat.content

    def test_it_posts_a_typed_message_as_a_signed_webhook(self, client, channel, account, sandbox):
        response = client.post(
            f"/sandbox/chat/{PHONE_NUMBER_ID}/393331234567/send",
            data=json.dumps({"kind": "text", "text": "Ciao, è arrivato?", "name": "Tomás"}),
            content_type="application/json",
        )

        assert response.status_code == 200
        assert response.json()["webhook_status"] == 200
        assert sandbox.call_count == 1
        call = sandbox.call_args
        raw = call.kwargs["data"]
        assert call.args[0] == f"http://switchboard.test/webhooks/whatsapp/{account.key}/"
        expected = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        assert call.kwargs["headers"]["X-Hub-Signature-256"] == expected
        assert call.kwargs["headers"]["Content-Type"] == "application/json"
        assert b"\\u00e8" in raw  # non-ASCII escaped, as Meta signs it
        body = json.loads(raw)
        message = body["entry"][0]["changes"][0]["value"]["messages"][0]
        assert message["id"] == response.json()["message_id"]
        assert message["id"].startswith("wamid.")
        assert message["timestamp"].isdigit()
        assert body == {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": WABA_ID,
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550199234",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [
                                    {
                                        "profile": {"name": "Tomás"},
                                        "wa_id": "393331234567",
                                        "user_id": message["from_user_id"],
                                    }
                                ],
                                "messages": [
                                    {
                                        "from": "393331234567",
                                        "from_user_id": message["from_user_id"],
                                        "id": message["id"],
                                        "timestamp": message["timestamp"],
                                        "type": "text",
                                        "text": {"body": "Ciao, è arrivato?"},
                                    }
                                ],
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }

    def test_it_sends_a_sample_image_that_switchboard_can_download(self, client, channel, sandbox):
        client.post(
            f"/sandbox/chat/{PHONE_NUMBER_ID}/393331234567/send",
            data=json.dumps({"kind": "image"}),
            content_type="application/json",
        )
        message = posted_payloads(sandbox)[0]["entry"][0]["changes"][0]["value"]["messages"][0]
        assert message["type"] == "image"
        assert message["image"]["mime_type"] == "image/png"
        url = client.get(f"/sandbox/graph/v23.0/{message['image']['id']}", **AUTH).json()["url"]
        png = client.get(urlsplit(url).path, **AUTH).content
        assert png.startswith(b"\x89PNG\r\n\x1a\n")

    def test_it_reports_when_switchboard_refuses_the_webhook(self, client, channel, sandbox):
        sandbox.return_value = mock.Mock(status_code=403)
        response = client.post(
            f"/sandbox/chat/{PHONE_NUMBER_ID}/393331234567/send",
            data=json.dumps({"kind": "location"}),
            content_type="application/json",
        )
        assert response.json()["webhook_status"] == 403
        state = client.get(f"/sandbox/chat/{PHONE_NUMBER_ID}/393331234567/state").json()
        assert state["messages"][0]["webhook_status"] == 403

    def test_it_shows_what_the_business_sent_with_its_ticks(self, client, channel, sandbox):
        wamid = send(client, text(body="We are on it")).json()["messages"][0]["id"]
        statuses_for(sandbox, wamid, 3)
        state = client.get(f"/sandbox/chat/{PHONE_NUMBER_ID}/393331234567/state").json()
        assert state["messages"][0]["from"] == "business"
        assert state["messages"][0]["text"] == "We are on it"
        assert state["messages"][0]["status"] == "read"

    def test_it_answers_404_when_the_sandbox_is_off(self, client, channel, settings):
        settings.SANDBOX_ENABLED = False
        assert client.get("/sandbox/").status_code == 404
        assert send(client, text()).status_code == 404


class TestUsernameCustomers:
    """A customer who uses a WhatsApp username: the business sees their user id, not a phone."""

    def open_chat(self, client, number="giulia.shop", **query):
        response = client.get(
            "/sandbox/", {"channel": PHONE_NUMBER_ID, "number": number, "name": "Giulia"}
        )
        assert response.status_code == 302
        return client.get(response["Location"], query)

    def write(self, client, key="giulia.shop", body="Ciao!"):
        response = client.post(
            f"/sandbox/chat/{PHONE_NUMBER_ID}/{key}/send",
            data=json.dumps({"kind": "text", "text": body, "name": "Giulia"}),
            content_type="application/json",
        )
        assert response.status_code == 200
        return posted_payloads_value(response, self.post)

    @pytest.fixture(autouse=True)
    def posts(self, sandbox):
        self.post = sandbox

    def test_a_username_opens_a_chat_that_shows_no_phone(self, client, channel):
        page = self.open_chat(client, "@Giulia.Shop")
        assert page.status_code == 200
        assert b"@giulia.shop" in page.content
        assert b"no phone shown" in page.content
        assert page.request["PATH_INFO"] == f"/sandbox/chat/{PHONE_NUMBER_ID}/giulia.shop/"

    def test_a_username_customer_writes_with_the_user_id_only(self, client, channel):
        self.open_chat(client)
        value = self.write(client)
        (contact,) = value["contacts"]
        (message,) = value["messages"]
        assert "wa_id" not in contact
        assert contact["profile"] == {"name": "Giulia", "username": "giulia.shop"}
        assert re.fullmatch(r"IT\.[0-9]{1,16}", contact["user_id"])
        assert "from" not in message
        assert message["from_user_id"] == contact["user_id"]

    def test_a_phone_customer_also_has_a_stable_user_id_from_their_region(self, client, channel):
        first = self.write(client, key="447700900123")
        emulator.reset()
        again = self.write(client, key="447700900123")
        (contact,) = first["contacts"]
        assert contact["wa_id"] == "447700900123"
        assert contact["user_id"].startswith("GB.")
        assert again["contacts"][0]["user_id"] == contact["user_id"]
        assert first["messages"][0]["from"] == "447700900123"

    def test_a_send_by_user_id_is_answered_with_the_user_id_and_its_statuses_carry_it(
        self, client, channel, sandbox
    ):
        self.open_chat(client)
        user_id = self.write(client)["contacts"][0]["user_id"]
        body = {"recipient": user_id, "type": "text", "text": {"body": "Ciao Giulia"}}
        response = send(client, body)
        assert response.status_code == 200
        answer = response.json()
        assert answer["contacts"] == [{"input": user_id, "user_id": user_id}]
        wamid = answer["messages"][0]["id"]
        statuses = statuses_for(sandbox, wamid, 3)
        assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
        assert all(s["recipient_user_id"] == user_id for s in statuses)
        assert all("recipient_id" not in s for s in statuses)
        values = [
            p["entry"][0]["changes"][0]["value"]
            for p in posted_payloads(sandbox)
            if p["entry"][0]["changes"][0]["value"].get("statuses")
        ]
        assert all(v["contacts"] == [{"user_id": user_id}] for v in values)
        state = client.get(f"/sandbox/chat/{PHONE_NUMBER_ID}/giulia.shop/state").json()
        assert state["messages"][-1]["text"] == "Ciao Giulia"

    def test_the_phone_wins_when_a_send_has_both(self, client, channel):
        body = {**text(to="393331234567"), "recipient": "IT.1502576394655843"}
        response = send(client, body)
        assert response.status_code == 200
        assert response.json()["contacts"] == [{"input": "393331234567", "wa_id": "393331234567"}]

    def test_a_send_with_neither_phone_nor_user_id_is_refused(self, client, channel):
        response = send(client, {"type": "text", "text": {"body": "x"}})
        assert response.status_code == 400
        assert graph_error(response)["code"] == 131008

    def test_an_authentication_template_to_a_user_id_fails_with_131062(self, client, channel):
        self.open_chat(client)
        user_id = self.write(client)["contacts"][0]["user_id"]
        body = template(name="login_code", code="en_US", params=("482913",))
        del body["to"]
        response = send(client, {**body, "recipient": user_id})
        assert response.status_code == 400
        assert graph_error(response)["code"] == 131062

    def test_a_username_customer_who_shares_a_number_writes_with_both(self, client, channel):
        self.open_chat(client)
        user_id = self.write(client)["contacts"][0]["user_id"]
        self.open_chat(client, phone="393351032246")
        value = self.write(client, body="Ecco il mio numero")
        assert value["contacts"][0]["wa_id"] == "393351032246"
        assert value["contacts"][0]["user_id"] == user_id
        assert value["messages"][0]["from"] == "393351032246"


def posted_payloads_value(response, post):
    """The `value` of the last webhook the sandbox posted (the customer's message)."""
    return posted_payloads(post)[-1]["entry"][0]["changes"][0]["value"]
