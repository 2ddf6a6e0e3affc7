"""The integrations lists cost the same number of queries whatever their length."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import ExternalLink, JobRun, SyncConflict, SyncJob

from .crm_mocks import ac_account, vt_account

pytestmark = pytest.mark.django_db


def make_rows(n: int, offset: int) -> None:
    now = timezone.now()
    account = vt_account(description=f"CRM {offset}")
    job = SyncJob.objects.create(name=f"job_{offset}", every_seconds=60)
    for i in range(offset, offset + n):
        JobRun.objects.create(job=job, started_at=now, outcome="success", counts={"created": i})
        ExternalLink.objects.create(
            account=account, object_type="contact", local_id=i, external_id=f"12x{i}"
        )
        SyncConflict.objects.create(
            account=account,
            object_type="contact",
            local_id=i,
            external_id=f"12x{i}",
            local_modified_at=now,
            remote_modified_at=now,
            winner="remote",
        )


@pytest.mark.parametrize(
    "path",
    [
        "/admin/integrations/jobrun/",
        "/admin/integrations/externallink/",
        "/admin/integrations/syncconflict/",
        "/admin/integrations/integrationaccount/",
    ],
)
def test_the_list_query_count_does_not_grow_with_rows(admin_client, path):
    make_rows(2, 0)
    ac_account()
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(path).status_code == 200
    make_rows(30, 100)
    ac_account(description="Second")
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(path).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
