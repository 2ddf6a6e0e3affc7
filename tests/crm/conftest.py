import pytest

from accounts.models import User
from crm.services import contact_create, pipeline_create


@pytest.fixture
def sales(db):
    return pipeline_create(name="Sales", stages=["New", "Qualified", "Proposal"])


@pytest.fixture
def support(db):
    return pipeline_create(name="Support upsell", stages=["Lead in", "Offer"])


@pytest.fixture
def giulia(db):
    return contact_create(phone="+393351032246", name="Giulia Conti")


@pytest.fixture
def rep1(db):
    return User.objects.create_user(username="rep1", password="x", first_name="Rita")


@pytest.fixture
def rep2(db):
    return User.objects.create_user(username="rep2", password="x", first_name="Marco")


@pytest.fixture
def channel(db):
    from integrations.models import IntegrationAccount
    from messaging.models import Channel

    account = IntegrationAccount.objects.create(
        description="Test WABA", platform="whatsapp_cloud", settings={}, secrets={}
    )
    return Channel.objects.create(
        name="Support line",
        account=account,
        provider="whatsapp_cloud",
        external_id="117094531254879",
        display_number="+15550199234",
    )
