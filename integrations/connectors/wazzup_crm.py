"""Our CRM pushed to Wazzup (wazzup-v3.md sections 2-5): users, contacts, deals and pipelines,
in batches of at most 100, within Wazzup's 500 requests per 5 seconds counted for every process,
and with field errors (`INVALID_CONTACTS_DATA`, `data[index].fields`) reported per record while
the rest of the batch still goes.

Only translation and the calls: which records change is `integrations/services/crm_mirror.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from integrations.rate_limit import request_slot_acquire
from messaging.providers.base import ContactRecord, DealRecord, ProviderError
from messaging.providers.wazzup import WazzupProvider
from messaging.providers.wazzup_parse import contact_wire, deal_wire

BATCH = 100
RATE_LIMIT = 500
RATE_PERIOD = 5
FIELD_ERRORS = frozenset(
    {"INVALID_USERS_DATA", "INVALID_CONTACTS_DATA", "INVALID_DEALS_DATA", "INVALID_PIPELINES_DATA"}
)
ROUTES = ("users", "pipelines", "contacts", "deals")


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str
    phone: str = ""  # E.164 or ""


@dataclass(frozen=True)
class PipelineRecord:
    id: str
    name: str
    stages: tuple[tuple[str, str], ...] = ()  # (id, name)


@dataclass
class PushOutcome:
    """What one push of a list did: the ids taken, and the refused ones with the reason."""

    sent: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    requests: int = 0


def user_wire(record: UserRecord) -> dict:
    body = {"id": record.id[:64], "name": (record.name or record.id)[:200]}
    if record.phone:
        body["phone"] = record.phone.removeprefix("+")  # digits, international (section 2)
    return body


def pipeline_wire(record: PipelineRecord) -> dict:
    body = {"id": record.id, "name": record.name[:100]}
    if record.stages:  # an empty stages array is refused (section 5)
        body["stages"] = [{"id": sid, "name": name} for sid, name in record.stages]
    return body


WIRE = {
    "users": user_wire,
    "pipelines": pipeline_wire,
    "contacts": contact_wire,
    "deals": deal_wire,
}
RECORD_TYPES = {
    "users": UserRecord,
    "pipelines": PipelineRecord,
    "contacts": ContactRecord,
    "deals": DealRecord,
}


class WazzupCrmMirror:
    label = "Wazzup"

    def __init__(self, *, settings: Mapping, secrets: Mapping, sleep=None, clock=None):
        self.provider = WazzupProvider(settings=settings, secrets=secrets)
        api_key = str(secrets.get("api_key") or "")
        # The budget is Wazzup's per key: every account with this key shares it.
        self.budget = "wazzup:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self._limits = {k: v for k, v in (("sleep", sleep), ("clock", clock)) if v is not None}

    def push(self, route: str, records: list) -> PushOutcome:
        """Upsert `records` (all of RECORD_TYPES[route]) in batches of at most 100."""
        outcome = PushOutcome()
        for start in range(0, len(records), BATCH):
            self._push_batch(route, records[start : start + BATCH], outcome)
        return outcome

    def delete(self, route: str, ids: list[str]) -> int:
        """Delete by id in batches of at most 100 (`PATCH /v3/<route>/bulk_delete`)."""
        requests = 0
        for start in range(0, len(ids), BATCH):
            self._slot()
            self.provider.entities_delete(route=route, ids=ids[start : start + BATCH])
            requests += 1
        return requests

    def _push_batch(self, route: str, batch: list, outcome: PushOutcome) -> None:
        body = [WIRE[route](record) for record in batch]
        self._slot()
        outcome.requests += 1
        try:
            self.provider.entities_post(route=route, records=body)
        except ProviderError as exc:
            refused = _field_errors(exc, batch)
            if not refused:
                raise
            outcome.refused.update(refused)
            rest = [record for record in batch if record.id not in refused]
            if rest:
                # (I) The reference does not say whether Wazzup stored the valid records of a
                # refused batch; assuming it refused the whole batch, the others go again (an
                # upsert by id, so sending one twice is harmless).
                self._push_batch(route, rest, outcome)
            return
        outcome.sent.extend(record.id for record in batch)

    def _slot(self) -> None:
        request_slot_acquire(name=self.budget, limit=RATE_LIMIT, period=RATE_PERIOD, **self._limits)


def _field_errors(exc: ProviderError, batch: list) -> dict[str, str]:
    """{record id: reason} from `INVALID_*_DATA` `data: [{index, fields}]`; {} for other errors."""
    if exc.raw.get("error") not in FIELD_ERRORS or not isinstance(exc.raw.get("data"), list):
        return {}
    refused = {}
    for entry in exc.raw["data"]:
        index = entry.get("index") if isinstance(entry, dict) else None
        if isinstance(index, int) and 0 <= index < len(batch):
            fields = ", ".join(str(f) for f in entry.get("fields") or []) or "unknown fields"
            refused[batch[index].id] = f"{exc.raw['error']}: {fields}"
    return refused
