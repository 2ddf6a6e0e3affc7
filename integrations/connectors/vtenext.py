"""vtenext and vtiger CRM through the session-based `webservice.php` API.

Wire reference: shared/reference/vtiger-webservice.md ("§n" below points to its sections).
One instance keeps one webservice session and reuses it for every call; a dead session is
replaced once per call (§4).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from .base import (
    Connector,
    ConnectorError,
    ExternalRecord,
    RecordKind,
    join_name,
    key_error,
    split_name,
    url_error,
)

# §4 and §10: the session is gone, a fresh login fixes it.
SESSION_ERRORS = frozenset(
    {"AUTHENTICATION_REQUIRED", "INVALID_SESSIONID", "SESSION_EXPIRED", "SESSION_LEFT_IDLE"}
)
# §10: answers to `login` that only a person can fix. On vtiger, INVALID_USER_CREDENTIALS can
# also be the login race of §4; the per-user lock below removes it within one process.
CREDENTIAL_ERRORS = frozenset(
    {
        "INVALID_USER_CREDENTIALS",
        "ACCESSKEY_UNDEFINED",
        "AUTHENTICATION_FAILURE",
        "AUTHENTICATION_REQUIRED",
        "IP_BANNED",
        "LOGIN_LOCKED",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"DATABASE_QUERY_ERROR", "INTERNAL_SERVER_ERROR", "INVALID_AUTH_TOKEN"}
)

MODULES = {
    RecordKind.COMPANY: "Accounts",
    RecordKind.CONTACT: "Contacts",
    RecordKind.LEAD: "Leads",
}

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Leads.company is mandatory on vtiger 5 and vtenext (§9); this stands in for "no company" and
# is read back as empty.
NO_COMPANY = "-"

_login_locks: dict[tuple[str, str], threading.Lock] = {}
_login_locks_guard = threading.Lock()


def _login_lock(endpoint: str, username: str) -> threading.Lock:
    # vtiger's getchallenge deletes the user's earlier tokens, so two logins of one user at once
    # make one of them fail (§4 "vtiger login race"): serialize challenge + login per user.
    with _login_locks_guard:
        return _login_locks.setdefault((endpoint, username), threading.Lock())


def _unescape(value):
    # query/sync (and probably retrieve) return strings HTML-encoded by the DB layer (§1).
    if isinstance(value, str):
        return html.unescape(value)
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    return value


def _base_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    for suffix in ("/webservice.php", "/index.php"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConnectorError(f"Unknown time zone {name!r}.") from exc


class VtenextConnector(Connector):
    key = "vtenext"
    label = "vtenext / vtiger CRM"
    supports_delete = True
    # `timezone` is optional (default UTC): the zone the CRM server writes `modifiedtime` in.
    # vtenext stores server-local time, vtiger >= 6 stores UTC (§9), and the API never says which.
    setting_fields = ("url", "username", "timezone")
    secret_fields = ("access_key",)

    # vtiger caps LIMIT at 100 rows (§7); vtenext has no cap.
    page_size = 100

    def __init__(self, *, settings: Mapping, secrets: Mapping):
        super().__init__(settings=settings, secrets=secrets)
        self.base_url = _base_url(str(self.settings.get("url") or ""))
        self.endpoint = f"{self.base_url}/webservice.php"
        self.username = str(self.settings.get("username") or "").strip()
        self.access_key = str(self.secrets.get("access_key") or "").strip()
        self.tz = _zone(self.settings.get("timezone"))
        self._session: dict | None = None

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        errors = {}
        error = url_error(_base_url(str(settings.get("url") or "")))
        if error:
            errors["url"] = error
        if not str(settings.get("username") or "").strip():
            errors["username"] = "This setting is required."
        if settings.get("timezone"):
            try:
                _zone(settings["timezone"])
            except ConnectorError:
                errors["timezone"] = "Enter a time zone name such as Europe/Rome or UTC."
        error = key_error(secrets.get("access_key"), where="My Preferences in the CRM")
        if error:
            errors["access_key"] = error
        return errors

    # --- session -----------------------------------------------------------------------------

    def verify_credentials(self) -> str:
        self._session = None
        info = self._login()
        if "vteVersion" in info:
            # vteVersion holds the legacy "5.2.1" on every CE install (§3), so it is not shown.
            platform = f"vtenext, webservice API {info.get('version', '?')}"
        else:
            platform = f"vtiger {info.get('vtigerVersion') or info.get('version', '?')}"
        return f"Logged in as {self.username} ({platform})"

    def close(self) -> None:
        """Log out, so the server does not keep the session until it idles out."""
        if self._session is None:
            return
        session, self._session = self._session, None
        # A failed logout is harmless: the session dies on its own after 30 minutes (§4).
        with contextlib.suppress(ConnectorError):
            self._send("POST", "logout", {"sessionName": session["sessionName"]})

    def _login(self) -> dict:
        with _login_lock(self.endpoint, self.username):
            challenge = self._send("GET", "getchallenge", {"username": self.username})
            token = challenge.get("token") if isinstance(challenge, dict) else None
            if not token:
                raise ConnectorError(f"{self.label}: getchallenge answered without a token.")
            # §4: the protocol itself prescribes md5(token + access key); it is not our choice.
            digest = hashlib.md5((token + self.access_key).encode()).hexdigest()  # noqa: S324
            try:
                info = self._send("POST", "login", {"username": self.username, "accessKey": digest})
            except ConnectorError as exc:
                raise ConnectorError(
                    f"Login as {self.username!r} failed: {exc.message}",
                    code=exc.code,
                    transient=exc.transient,
                    credentials_invalid=exc.code in CREDENTIAL_ERRORS,
                    raw=exc.raw,
                ) from exc
        if not isinstance(info, dict) or not info.get("sessionName"):
            raise ConnectorError(f"{self.label}: login answered without a sessionName.")
        self._session = info
        return info

    def _ensure_session(self) -> dict:
        return self._session if self._session is not None else self._login()

    def _call(self, http_method: str, operation: str, params: Mapping | None = None):
        """One operation on the cached session; a dead session is replaced once (§4)."""
        for attempt in (1, 2):
            session = self._ensure_session()
            try:
                return self._send(
                    http_method,
                    operation,
                    {**(params or {}), "sessionName": session["sessionName"]},
                )
            except ConnectorError as exc:
                if attempt == 1 and exc.code in SESSION_ERRORS:
                    self._session = None
                    continue
                raise
        raise AssertionError("unreachable")

    def _send(self, http_method: str, operation: str, params: Mapping):
        payload = {"operation": operation, **params}
        # The server reads operation parameters only from the query string of GET operations
        # and only from the body of POST ones (§1 "Strict param source").
        if http_method == "GET":
            response = self._http("GET", self.endpoint, params=payload)
        else:
            response = self._http("POST", self.endpoint, data=payload)
        return self._result(response, operation)

    def _result(self, response: requests.Response, operation: str):
        status = response.status_code
        if status == 429 or status >= 500:
            raise ConnectorError(
                f"{self.label}: {operation} answered HTTP {status}.",
                code=str(status),
                transient=True,
            )
        if status != 200:
            raise ConnectorError(
                f"{self.label}: {operation} answered HTTP {status}; is {self.base_url} the CRM "
                "address?",
                code=str(status),
            )
        try:
            body = response.json()
        except ValueError:
            # §1: a PHP warning, HTML page or maintenance page instead of JSON is a server fault.
            raise ConnectorError(
                f"{self.label}: {operation} answered something that is not JSON.", transient=True
            ) from None
        if not isinstance(body, dict) or "success" not in body:
            raise ConnectorError(f"{self.label}: {operation} answered without a success flag.")
        if not body["success"]:
            error = body.get("error") or {}
            code = str(error.get("code") or "UNKNOWN")
            raise ConnectorError(
                f"{code}: {error.get('message') or 'no message'}",
                code=code,
                transient=code in TRANSIENT_ERRORS,
                raw=body,
            )
        return _unescape(body.get("result"))

    # --- reads -------------------------------------------------------------------------------

    def query(self, vtql: str) -> list[dict]:
        """Run one VTQL statement (it must end with ';')."""
        result = self._call("GET", "query", {"query": vtql})
        return result if isinstance(result, list) else []

    def retrieve(self, external_id: str) -> dict:
        return self._call("GET", "retrieve", {"id": external_id})

    def fetch(self, external_id: str) -> ExternalRecord:
        row = self.retrieve(external_id)
        if "accountname" in row:
            kind = RecordKind.COMPANY
        elif "lead_no" in row:
            kind = RecordKind.LEAD
        else:
            kind = RecordKind.CONTACT
        return self._to_record(kind, row)

    def iter_modified(self, since: datetime) -> Iterator[ExternalRecord]:
        # `sync` is not used: it crashes on vtenext and old installs under PHP >= 7.1 and only
        # returns records owned by the API user (§8), so changes come from `query` on
        # modifiedtime, which the reference recommends for "all contacts changed since T".
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        stamp = since.astimezone(self.tz).strftime(DATETIME_FORMAT)
        # Companies first, so the contacts that point at them can be linked.
        for kind in (RecordKind.COMPANY, RecordKind.CONTACT, RecordKind.LEAD):
            # Only our own module names and a formatted datetime go into the statement.
            statement = f"SELECT * FROM {MODULES[kind]} WHERE modifiedtime > '{stamp}'"  # noqa: S608
            statement += " ORDER BY modifiedtime"
            for row in self._iter_query(statement):
                yield self._to_record(kind, row)

    def _iter_query(self, statement: str) -> Iterator[dict]:
        seen: set[str] = set()
        offset = 0
        while True:
            rows = self.query(f"{statement} LIMIT {offset}, {self.page_size};")
            if not rows:
                return
            for row in rows:
                if row.get("id") not in seen:
                    seen.add(row.get("id"))
                    yield row
            # §7: installs cap LIMIT differently and drop unreadable rows after applying it, so
            # a short page does not mean the end. Stepping by the rows received never skips a
            # row; the few it reads twice are dropped by id above.
            offset += len(rows)

    def _to_record(self, kind: str, row: dict) -> ExternalRecord:
        if kind == RecordKind.COMPANY:
            return ExternalRecord(
                external_id=row.get("id") or "",
                kind=kind,
                name=row.get("accountname") or "",
                phone=row.get("phone") or "",
                email=row.get("email1") or "",  # §9: the account e-mail field is email1
                modified_at=self._parse_time(row.get("modifiedtime")),
                raw=row,
            )
        company = (row.get("company") or "") if kind == RecordKind.LEAD else ""
        return ExternalRecord(
            external_id=row.get("id") or "",
            kind=kind,
            name=join_name(row.get("firstname"), row.get("lastname")),
            # §9: the WhatsApp number normally lives in mobile.
            phone=row.get("mobile") or row.get("phone") or "",
            email=row.get("email") or "",
            company_external_id=(row.get("account_id") or "") if kind == RecordKind.CONTACT else "",
            company_name="" if company == NO_COMPANY else company,
            modified_at=self._parse_time(row.get("modifiedtime")),
            raw=row,
        )

    def _parse_time(self, value: str | None) -> datetime | None:
        try:
            return datetime.strptime(value or "", DATETIME_FORMAT).replace(tzinfo=self.tz)
        except ValueError:
            return None

    # --- writes ------------------------------------------------------------------------------

    def create(self, module: str, element: Mapping) -> dict:
        """Create one record; the owner defaults to the API user (§5)."""
        element = dict(element)
        element.setdefault("assigned_user_id", self._ensure_session()["userId"])
        return self._call("POST", "create", {"elementType": module, "element": json.dumps(element)})

    def revise(self, external_id: str, changes: Mapping) -> dict:
        """Change only the given fields (`update` would blank every field not sent, §6)."""
        element = {**changes, "id": external_id}
        return self._call("POST", "revise", {"element": json.dumps(element)})

    def delete(self, *, external_id: str, kind: str) -> None:
        """The `delete` operation (POST, `id`); a record already gone answers RECORD_NOT_FOUND
        or ACCESS_DENIED, which counts as deleted."""
        try:
            self._call("POST", "delete", {"id": external_id})
        except ConnectorError as exc:
            if exc.code not in ("RECORD_NOT_FOUND", "ACCESS_DENIED"):
                raise

    def push(self, record: ExternalRecord) -> str:
        module = MODULES.get(record.kind)
        if module is None:
            raise ConnectorError(f"{self.label}: cannot store a record of kind {record.kind!r}.")
        if record.external_id:
            changes = self._changes(record, self.retrieve(record.external_id))
            if changes:
                self.revise(record.external_id, changes)
            return record.external_id
        created = self.create(module, self._new_element(record))
        return created["id"]

    def _new_element(self, record: ExternalRecord) -> dict:
        if record.kind == RecordKind.COMPANY:
            if not record.name:
                raise ConnectorError(f"{self.label}: a company needs a name (accountname).")
            element = {"accountname": record.name, "phone": record.phone, "email1": record.email}
        else:
            first, last = split_name(record.name)
            # lastname is mandatory (§6); a WhatsApp contact may have nothing but a number.
            last = last or record.phone or record.email
            if not last:
                raise ConnectorError(f"{self.label}: a {record.kind} needs a name or a phone.")
            element = {
                "firstname": first,
                "lastname": last,
                "mobile": record.phone,
                "email": record.email,
            }
            if record.kind == RecordKind.LEAD:
                element["company"] = record.company_name or NO_COMPANY
            else:
                element["account_id"] = record.company_external_id
        return {k: v for k, v in element.items() if v}

    def _changes(self, record: ExternalRecord, current: dict) -> dict:
        """The fields whose value differs; empty values in `record` never blank the CRM."""
        changes = {}
        if record.kind == RecordKind.COMPANY:
            wanted = {"accountname": record.name, "phone": record.phone, "email1": record.email}
            return {k: v for k, v in wanted.items() if v and current.get(k) != v}
        current_name = join_name(current.get("firstname"), current.get("lastname"))
        if record.name and record.name != current_name:
            changes["firstname"], changes["lastname"] = split_name(record.name)
        if record.phone and record.phone != (current.get("mobile") or current.get("phone")):
            changes["mobile"] = record.phone
        if record.email and record.email != current.get("email"):
            changes["email"] = record.email
        if record.kind == RecordKind.LEAD:
            if record.company_name and record.company_name != current.get("company"):
                changes["company"] = record.company_name
        elif record.company_external_id and record.company_external_id != current.get("account_id"):
            changes["account_id"] = record.company_external_id
        return changes

    def ticket_mirror(
        self, title: str, description: str, status: str, contact_external_id: str
    ) -> str:
        """Create a HelpDesk ticket; `status` is a ticketstatus value such as "Open" (§9)."""
        element = {
            "ticket_title": title,
            "description": description,
            "ticketstatus": status,
            # mandatory on vtiger 7 (§9 HelpDesk); the CRM's own default value
            "ticketpriorities": "Normal",
        }
        if contact_external_id:
            element[self._ticket_contact_field()] = contact_external_id
        return self.create("HelpDesk", element)["id"]

    def comment_mirror(self, ticket_external_id: str, text: str) -> str:
        """Add a ModComments entry to a ticket (§9 ModComments)."""
        return self.create(
            "ModComments", {"commentcontent": text, "related_to": ticket_external_id}
        )["id"]

    def _ticket_contact_field(self) -> str:
        # §9 HelpDesk: vtiger 6/7 link a ticket's contact through contact_id; vtenext and
        # vtiger 5 have no contact_id and take a contact in parent_id.
        info = self._ensure_session()
        if "vteVersion" in info:
            return "parent_id"
        major = str(info.get("vtigerVersion") or "").split(".")[0]
        return "contact_id" if major.isdigit() and int(major) >= 6 else "parent_id"
