"""Connect and Disconnect against the Bot API (mocked with the reference fixtures): getMe,
setWebhook with a fresh secret and only the updates we handle, getWebhookInfo shown on the
channel, clear errors for bad tokens and for a PUBLIC_BASE_URL Telegram cannot call."""

import json

import pytest

from messaging.models import Channel
from messaging.services import ChannelConnectFailed, channel_connect, channel_disconnect

from .telegram_support import API, fixture_json

pytestmark = pytest.mark.django_db
PUBLIC = "https://hub.example.com"


@pytest.fixture
def new_bot(tg_channel):
    tg_channel.external_id = "pending"
    tg_channel.secrets = {"bot_token": tg_channel.secrets["bot_token"]}
    tg_channel.config = {}
    tg_channel.throughput_per_second = 80
    tg_channel.transport = "waba"  # the admin's default
    tg_channel.save()
    return tg_channel


def test_connect_checks_the_token_registers_the_webhook_and_shows_its_state(
    settings, new_bot, bot_api
):
    settings.PUBLIC_BASE_URL = PUBLIC
    bot_api.post(f"{API}/getMe", json=fixture_json("getme.json"))
    bot_api.post(f"{API}/setWebhook", json=fixture_json("set_webhook_ok.json"))
    bot_api.post(f"{API}/getWebhookInfo", json=fixture_json("get_webhook_info.json"))

    channel = channel_connect(channel=new_bot)

    assert (channel.external_id, channel.display_number) == ("7012345678", "@helpdesk_hub_test_bot")
    assert channel.config["bot_username"] == "helpdesk_hub_test_bot"
    secret = channel.secrets["webhook_secret"]
    assert len(secret) >= 32
    sent = json.loads(bot_api.calls[1].request.body)
    expected = fixture_json("set_webhook_request.json")
    assert sent == {
        **expected,
        "url": f"{PUBLIC}/webhooks/telegram/{channel.key}/",
        "secret_token": secret,
    }
    info = channel.config["webhook_info"]
    assert info["pending_update_count"] == 3
    assert info["last_error_message"] == (
        "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert channel.config["webhook_connected"] is True
    assert channel.config["webhook_warning"] == ""
    assert channel.throughput_per_second == 30
    assert channel.transport == "telegram"


def test_connect_refuses_a_url_telegram_cannot_call(settings, new_bot, bot_api):
    settings.PUBLIC_BASE_URL = "https://hub.example.com:8000"
    bot_api.post(f"{API}/getMe", json=fixture_json("getme.json"))
    with pytest.raises(ChannelConnectFailed) as failed:
        channel_connect(channel=new_bot)
    assert "ports 443, 80, 88 and 8443" in str(failed.value)
    assert len(bot_api.calls) == 1  # no setWebhook


def test_connect_refuses_plain_http(settings, new_bot, bot_api):
    settings.PUBLIC_BASE_URL = "http://hub.example.com"
    bot_api.post(f"{API}/getMe", json=fixture_json("getme.json"))
    with pytest.raises(ChannelConnectFailed) as failed:
        channel_connect(channel=new_bot)
    assert "only calls webhooks over HTTPS" in str(failed.value)


def test_a_revoked_token_is_a_clear_error_and_marks_the_channel_unhealthy(new_bot, bot_api):
    bot_api.post(f"{API}/getMe", json=fixture_json("error_401.json"), status=401)
    with pytest.raises(ChannelConnectFailed) as failed:
        channel_connect(channel=new_bot)
    assert "The bot token is revoked or wrong" in str(failed.value)
    new_bot.refresh_from_db()
    assert new_bot.is_healthy is False
    assert new_bot.account.is_healthy


def test_a_token_telegram_does_not_recognise_as_one_is_a_clear_error(new_bot, bot_api):
    bot_api.post(f"{API}/getMe", json=fixture_json("error_404_malformed_token.json"), status=404)
    with pytest.raises(ChannelConnectFailed) as failed:
        channel_connect(channel=new_bot)
    assert "The bot token is malformed" in str(failed.value)


def test_a_malformed_token_is_refused_before_any_call(new_bot, bot_api):
    new_bot.secrets = {"bot_token": "hello"}
    new_bot.save()
    with pytest.raises(ChannelConnectFailed) as failed:
        channel_connect(channel=new_bot)
    assert "malformed" in str(failed.value)
    assert len(bot_api.calls) == 0


def test_disconnect_deletes_the_webhook_and_forgets_the_secret(tg_channel, bot_api):
    tg_channel.config = {**tg_channel.config, "webhook_connected": True, "webhook_info": {}}
    tg_channel.save()
    bot_api.post(f"{API}/deleteWebhook", json={"ok": True, "result": True})
    channel = channel_disconnect(channel=tg_channel)
    assert json.loads(bot_api.calls[0].request.body) == {"drop_pending_updates": False}
    channel = Channel.objects.get(pk=channel.pk)
    assert channel.secrets["webhook_secret"] == ""
    assert channel.config["webhook_connected"] is False
    assert "webhook_info" not in channel.config


def test_updates_after_disconnect_are_refused(tg_channel, bot_api, post_update):
    bot_api.post(f"{API}/deleteWebhook", json={"ok": True, "result": True})
    channel_disconnect(channel=tg_channel)
    assert post_update("update_text.json").status_code == 403
