"""ActiveCampaign API v3: contacts, custom field ids and tags.

Wire reference: shared/reference/activecampaign-v3.md ("§n" below points to its sections).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from .base import (
    Connector,
    ConnectorError,
    ExternalRecord,
    PushResult,
    RateLimiter,
    RecordKind,
    join_name,
    key_error,
    split_name,
    url_error,
)


def _api_base(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    if url.endswith("/api/3"):
        url = url[: -len("/api/3")]
    return f"{url}/api/3"


def _retry_after(response: requests.Response, default: float) -> float:
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:  # the HTTP-date form
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return default


def _parse_time(contact: Mapping) -> datetime | None:
    # §2: udate carries the account's UTC offset; legacy rows may hold "0000-00-00 ..." or null.
    try:
        return datetime.fromisoformat(contact.get("udate") or "")
    except ValueError:
        pass
    try:
        stamp = datetime.strptime(contact.get("updated_utc_timestamp") or "", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC)


def _error_text(body) -> tuple[str, str | None]:
    """(readable text, vendor code) from any error body of §8."""
    if not isinstance(body, dict):
        return "", None
    errors = body.get("errors")
    if isinstance(errors, str):  # bulk endpoints
        return errors, None
    if isinstance(errors, list) and errors:
        parts = []
        code = None
        for item in errors:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            text = item.get("title") or ""
            if item.get("detail"):
                text = f"{text}: {item['detail']}" if text else item["detail"]
            pointer = (item.get("source") or {}).get("pointer") or ""
            if pointer:
                text = f"{text} ({pointer.rsplit('/', 1)[-1]})"
            parts.append(text)
            code = code or item.get("code")
        return "; ".join(p for p in parts if p), code
    if body.get("message"):
        return str(body["message"]), None
    return "", None


class ActiveCampaignConnector(Connector):
    key = "activecampaign"
    label = "ActiveCampaign"
    setting_fields = ("api_url",)
    secret_fields = ("api_token",)
    supports_delete = True

    page_size = 100  # §2: the maximum `limit`
    # §9: 5 requests per second per account.
    calls_per_second = 5
    retries_on_429 = 3
    # A Retry-After longer than this is not waited out inside a call: the caller retries later.
    max_inline_wait = 60.0
    default_retry_after = 1.0

    def __init__(
        self,
        *,
        settings: Mapping,
        secrets: Mapping,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(settings=settings, secrets=secrets)
        self.base_url = _api_base(str(self.settings.get("api_url") or ""))
        self.api_token = str(self.secrets.get("api_token") or "").strip()
        self.sleep = sleep
        # The limit is per account and shared by every key and worker (§9); this only keeps one
        # instance from bursting past it.
        self.limiter = RateLimiter(self.calls_per_second, 1.0, clock=clock, sleep=sleep)

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        errors = {}
        # §1: the token travels in a header, so only HTTPS; the URL comes from Settings ->
        # Developer and is not always <account>.api-us1.com.
        error = url_error(str(settings.get("api_url") or ""), schemes=("https",))
        if error:
            errors["api_url"] = error
        error = key_error(secrets.get("api_token"), where="Settings -> Developer")
        if error:
            errors["api_token"] = error
        return errors

    # --- transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, params=None, json=None) -> dict:
        url = f"{self.base_url}/{path}"
        headers = {"Api-Token": self.api_token, "Accept": "application/json"}
        for attempt in range(self.retries_on_429 + 1):
            self.limiter.wait()
            response = self._http(method, url, params=params, json=json, headers=headers)
            if response.status_code != 429:
                break
            # §9: 429 comes with Retry-After in seconds; wait it out a few times, then give up.
            wait = _retry_after(response, self.default_retry_after)
            if attempt == self.retries_on_429 or wait > self.max_inline_wait:
                raise ConnectorError(
                    f"{self.label}: rate limit hit (HTTP 429); retry in {wait:g} s.",
                    code="429",
                    transient=True,
                    retry_after=wait,
                )
            self.sleep(wait)
        if 200 <= response.status_code < 300:
            if not response.content:
                return {}
            try:
                body = response.json()
            except ValueError:
                raise ConnectorError(
                    f"{self.label}: {method} {path} answered something that is not JSON."
                ) from None
            return body if isinstance(body, dict) else {}
        raise self._error(response)

    def delete(self, *, external_id: str, kind: str) -> None:
        """`DELETE /api/3/contacts/{id}`; a 404 means it is already gone."""
        try:
            self._request("DELETE", f"contacts/{external_id}")
        except ConnectorError as exc:
            if exc.code != "404":
                raise

    def _error(self, response: requests.Response) -> ConnectorError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        text, vendor_code = _error_text(body)
        text = text or response.reason or "no details"
        code = vendor_code or str(status)
        raw = body if isinstance(body, dict) else {}
        if status in (401, 403):
            # §1: a bad or missing token answers 403 (not 401).
            return ConnectorError(
                f"{self.label} refused the API token: {text} (HTTP {status}).",
                code=code,
                credentials_invalid=True,
                raw=raw,
            )
        if status >= 500:
            # §8: 503 is also what users see when bursting past the rate limit.
            retry_after = response.headers.get("Retry-After")
            return ConnectorError(
                f"{self.label} is unavailable: {text} (HTTP {status}).",
                code=code,
                transient=True,
                retry_after=_retry_after(response, 0.0) if retry_after else None,
                raw=raw,
            )
        if status == 404:
            return ConnectorError(f"{self.label}: {text} (HTTP 404).", code=code, raw=raw)
        if status == 422:
            return ConnectorError(
                f"{self.label} rejected the data: {text} (HTTP 422).", code=code, raw=raw
            )
        return ConnectorError(f"{self.label}: {text} (HTTP {status}).", code=code, raw=raw)

    # --- account -----------------------------------------------------------------------------

    def verify_credentials(self) -> str:
        # Not in the wire reference: GET /users/me ("Retrieve logged-in user") is the cheapest
        # call that proves the token and names its user.
        user = self._request("GET", "users/me").get("user") or {}
        name = join_name(user.get("firstName"), user.get("lastName")) or user.get("username")
        email = user.get("email")
        return f"Connected as {name} <{email}>" if email else f"Connected as {name}"

    def fields(self) -> list[dict]:
        """Custom contact fields as {"id", "title", "perstag", "type"} (§6)."""
        body = self._request("GET", "fields", params={"limit": self.page_size})
        return [
            {k: field.get(k) for k in ("id", "title", "perstag", "type")}
            for field in body.get("fields") or []
        ]

    # --- contacts ----------------------------------------------------------------------------

    def iter_modified(self, since: datetime) -> Iterator[ExternalRecord]:
        # Only contacts: ActiveCampaign has no leads, and its accounts are not in the reference.
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        params = {
            # §4: the format is not specified; ISO-8601 with the offset is what clients send.
            "filters[updated_after]": since.isoformat(timespec="seconds"),
            "orders[id]": "ASC",
            "limit": self.page_size,
        }
        offset = 0
        while True:
            body = self._request("GET", "contacts", params={**params, "offset": offset})
            contacts = body.get("contacts") or []
            if not contacts:
                return
            for contact in contacts:
                yield self._to_record(contact)
            offset += len(contacts)
            # §2: page until offset >= meta.total (a string).
            try:
                total = int((body.get("meta") or {}).get("total"))
            except (TypeError, ValueError):
                continue  # no usable total: the empty page ends it
            if offset >= total:
                return

    def contact_fetch(self, contact_id: str) -> ExternalRecord:
        return self._to_record(self._request("GET", f"contacts/{contact_id}").get("contact") or {})

    def contact_find_by_email(self, email: str) -> ExternalRecord | None:
        contacts = self._request("GET", "contacts", params={"email": email}).get("contacts")
        return self._to_record(contacts[0]) if contacts else None

    def contact_sync(
        self,
        *,
        email: str,
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
        field_values: Mapping[str, str] | None = None,
    ) -> str:
        """Create or update the contact with this e-mail (§3); return its id.

        Empty arguments are left out, so sync leaves those values as they are.
        """
        if not email:
            raise ConnectorError(f"{self.label}: contact/sync needs an e-mail address.")
        body = _contact_body(email, first_name, last_name, phone, field_values)
        return self._contact_id(self._request("POST", "contact/sync", json=body))

    def contact_create(
        self,
        *,
        phone: str = "",
        email: str = "",
        first_name: str = "",
        last_name: str = "",
        field_values: Mapping[str, str] | None = None,
    ) -> str:
        """Create a contact; without an e-mail it is a phone-only contact (§3), which works only
        when the account has opted in to them."""
        body = _contact_body(email, first_name, last_name, phone, field_values)
        if not email:
            body["contact"]["allowNullEmail"] = True
        return self._contact_id(self._request("POST", "contacts", json=body))

    def contact_update(
        self,
        contact_id: str,
        *,
        email: str = "",
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
        field_values: Mapping[str, str] | None = None,
    ) -> str:
        """Update a known contact by id: the way to change its e-mail, which sync cannot (§3)."""
        body = _contact_body(email, first_name, last_name, phone, field_values)
        return self._contact_id(self._request("PUT", f"contacts/{contact_id}", json=body))

    def contact_find_by_phone(self, phone: str) -> ExternalRecord | None:
        """The contact whose stored phone has the same digits as `phone`, or None.

        §4: phones are kept as typed and `phone` is a prefix match on that text, so ask for the
        forms an international number is usually typed in and compare the digits here.
        """
        digits = _phone_digits(phone)
        if not digits:
            return None
        variants = dict.fromkeys((phone.strip(), f"+{digits}", f"00{digits}", digits))
        for variant in variants:
            body = self._request("GET", "contacts", params={"phone": variant})
            for contact in body.get("contacts") or []:
                if _phone_digits(contact.get("phone") or "") == digits:
                    return self._to_record(contact)
        return None

    def push(self, record: ExternalRecord) -> str:
        return self.push_result(record).external_id

    def push_result(self, record: ExternalRecord) -> PushResult:
        if record.kind == RecordKind.COMPANY:
            raise ConnectorError(f"{self.label}: this connector stores contacts only.")
        first, last = split_name(record.name)
        values = {"email": record.email, "first_name": first, "last_name": last}
        if record.external_id:
            return PushResult(self.contact_update(record.external_id, phone=record.phone, **values))
        if not record.email and not record.phone:
            raise ConnectorError(f"{self.label}: a contact needs an e-mail address or a phone.")
        try:
            if record.email:
                return PushResult(self.contact_sync(phone=record.phone, **values))
            return PushResult(self.contact_create(phone=record.phone, **values))
        except ConnectorError as exc:
            # §8: 422 `duplicate` says the e-mail or phone is already on a contact there. That
            # contact is ours: update it rather than fail on every run.
            if exc.code != "duplicate":
                raise
            existing = (record.email and self.contact_find_by_email(record.email)) or (
                record.phone and self.contact_find_by_phone(record.phone)
            )
            if not existing or not existing.external_id:
                raise
        contact_id = self.contact_update(existing.external_id, phone=record.phone, **values)
        return PushResult(contact_id, existed=True)

    def _contact_id(self, body: dict) -> str:
        contact_id = (body.get("contact") or {}).get("id")
        if not contact_id:
            raise ConnectorError(f"{self.label}: the answer carries no contact id.")
        return str(contact_id)

    def _to_record(self, contact: Mapping) -> ExternalRecord:
        orgid = str(contact.get("orgid") or "")
        return ExternalRecord(
            external_id=str(contact.get("id") or ""),
            kind=RecordKind.CONTACT,
            name=join_name(contact.get("firstName"), contact.get("lastName")),
            phone=contact.get("phone") or "",
            email=contact.get("email") or "",
            company_external_id=str(contact.get("organization") or "")
            or ("" if orgid == "0" else orgid),
            company_name=contact.get("orgname") or "",
            modified_at=_parse_time(contact),
            raw=dict(contact),
        )

    # --- tags --------------------------------------------------------------------------------

    def tag_find(self, name: str) -> str | None:
        """The id of the contact tag named exactly `name`, or None."""
        tags = self._request("GET", "tags", params={"search": name}).get("tags") or []
        # §7: `search` is a "contains" match, so compare the names here.
        for tag in tags:
            if tag.get("tag") == name and tag.get("tagType", "contact") == "contact":
                return str(tag["id"])
        return None

    def tag_find_or_create(self, name: str, *, description: str = "") -> str:
        tag_id = self.tag_find(name)
        if tag_id:
            return tag_id
        body = {"tag": {"tag": name, "tagType": "contact", "description": description}}
        tag = self._request("POST", "tags", json=body).get("tag") or {}
        if not tag.get("id"):
            raise ConnectorError(f"{self.label}: the new tag has no id.")
        return str(tag["id"])

    def contact_tags(self, contact_id: str) -> dict[str, str]:
        """{tag id: contactTag id} for one contact."""
        body = self._request("GET", f"contacts/{contact_id}/contactTags")
        return {str(item.get("tag")): str(item.get("id")) for item in body.get("contactTags") or []}

    def contact_tag_add(self, contact_id: str, tag_id: str) -> str:
        """Tag a contact (tags go by id, §7); return the contactTag id."""
        # §7: re-posting an existing pair is undocumented, so look first.
        existing = self.contact_tags(contact_id).get(str(tag_id))
        if existing:
            return existing
        body = {"contactTag": {"contact": str(contact_id), "tag": str(tag_id)}}
        link = self._request("POST", "contactTags", json=body).get("contactTag") or {}
        if not link.get("id"):
            raise ConnectorError(f"{self.label}: the new contact tag has no id.")
        return str(link["id"])

    def contact_tag_remove(self, contact_id: str, tag_id: str) -> bool:
        """Untag a contact; False when it did not have the tag."""
        link_id = self.contact_tags(contact_id).get(str(tag_id))
        if not link_id:
            return False
        self._request("DELETE", f"contactTags/{link_id}")
        return True


def _phone_digits(phone: str) -> str:
    """The digits of an international number, without its 00 or + prefix."""
    digits = "".join(c for c in phone if c.isdigit())
    return digits[2:] if digits.startswith("00") else digits


def _contact_body(email, first_name, last_name, phone, field_values) -> dict:
    contact = {"email": email, "firstName": first_name, "lastName": last_name, "phone": phone}
    contact = {k: v for k, v in contact.items() if v}
    if field_values:
        contact["fieldValues"] = [
            {"field": str(field_id), "value": value} for field_id, value in field_values.items()
        ]
    return {"contact": contact}
