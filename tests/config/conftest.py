import pytest

from integrations.models import IntegrationAccount
from messaging.models import Channel


@pytest.fixture
def channel(db):
    account = IntegrationAccount.objects.create(
        description="WABA", platform="whatsapp_cloud", settings={}, secrets={}
    )
    return Channel.objects.create(
        name="Sales", account=account, provider="whatsapp_cloud", external_id="1001"
    )
