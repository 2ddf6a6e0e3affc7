"""Clerk.io (the e-commerce search and e-mail platform, api.clerk.io): push customers and orders.

Wire reference: shared/reference/clerk-io.md ("§n" below points to its sections).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from .base import Connector, ConnectorError, ExternalRecord, RecordKind, key_error

BASE_URL = "https://api.clerk.io/v2"


class ClerkConnector(Connector):
    key = "clerk"
    label = "Clerk.io"
    setting_fields = ()
    secret_fields = ("public_key", "private_key")

    def __init__(self, *, settings: Mapping, secrets: Mapping):
        super().__init__(settings=settings, secrets=secrets)
        self.public_key = str(self.secrets.get("public_key") or "").strip()
        self.private_key = str(self.secrets.get("private_key") or "").strip()

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        errors = {}
        for name in cls.secret_fields:
            error = key_error(secrets.get(name), where="my.clerk.io")
            if error:
                errors[name] = error
        public = str(secrets.get("public_key") or "").strip()
        if public and public == str(secrets.get("private_key") or "").strip():
            errors["private_key"] = "The private key differs from the public key."
        return errors

    # --- transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, params=None, json=None) -> dict:
        response = self._http(method, f"{BASE_URL}/{path}", params=params, json=json)
        try:
            body = response.json()
        except ValueError:
            body = None
        # §2: the HTTP status of errors is undocumented, so the body's `status` decides.
        if isinstance(body, dict) and body.get("status") == "error":
            raise self._error(body)
        if response.status_code == 429 or response.status_code >= 500:
            raise ConnectorError(
                f"{self.label}: {path} answered HTTP {response.status_code}.",
                code=str(response.status_code),
                transient=True,
            )
        if not isinstance(body, dict) or body.get("status") != "ok":
            raise ConnectorError(
                f"{self.label}: {path} gave an unexpected answer (HTTP {response.status_code}).",
                code=str(response.status_code),
            )
        return body

    def _error(self, body: dict) -> ConnectorError:
        kind = str(body.get("type") or "Error")
        text = f"{self.label} {kind}: {body.get('message') or 'no message'}"
        if body.get("moreInfo"):
            text = f"{text} ({body['moreInfo']})"
        return ConnectorError(
            text,
            code=kind,
            # §2: AuthenticationError = wrong key or disabled account; InternalError = theirs.
            credentials_invalid=kind == "AuthenticationError",
            transient=kind == "InternalError",
            raw=body,
        )

    def _keys(self) -> dict:
        # §1: keys travel as request parameters (JSON body or query string), not headers.
        return {"key": self.public_key, "private_key": self.private_key}

    # --- account -----------------------------------------------------------------------------

    def verify_credentials(self) -> str:
        # §1 "Key check": token/verify checks a feed token that Clerk sends us and says nothing
        # about the private key, so the key pair is checked the way Clerk's Magento plugin does.
        body = self._request("GET", "client/account/info", params=self._keys())
        name = body.get("name") or (body.get("store") or {}).get("name") or ""
        return f"Keys accepted for {name}" if name else "Keys accepted by Clerk.io"

    def token_verify(self, token: str) -> bool:
        """Whether Clerk issued `token` (the Bearer of X-Clerk-Authorization on a feed, §6)."""
        try:
            self._request("POST", "token/verify", json={"token": token, "key": self.public_key})
        except ConnectorError as exc:
            if exc.code == "AuthenticationError":
                return False
            raise
        return True

    # --- data --------------------------------------------------------------------------------

    def iter_modified(self, since: datetime) -> Iterator[ExternalRecord]:
        # Clerk.io is push-only for us: it pulls shop data from feeds and has no "changed since"
        # read for customers (§5, §6), so there is nothing to pull.
        return iter(())

    def customers_push(self, customers: list[dict]) -> None:
        """Create or replace customers (§3 POST /v2/customers; §4 Customer for the keys)."""
        if customers:
            self._request("POST", "customers", json={**self._keys(), "customers": customers})

    def orders_push(self, orders: list[dict]) -> None:
        """Import orders: {id, customer, time (Unix s), products [{id, quantity, price}], ...}."""
        if orders:
            self._request("POST", "orders", json={**self._keys(), "orders": orders})

    def push(self, record: ExternalRecord) -> str:
        # Clerk keeps the caller's own customer id (§4), and a POST replaces the whole object
        # (§3 "Write semantics"): callers that hold more (subscribed, zip) use customers_push.
        if not record.external_id:
            raise ConnectorError(f"{self.label}: a customer needs our id as its external id.")
        customer = {
            "id": record.external_id,
            "name": record.name,
            "email": record.email,
            "phone": record.phone,
        }
        customer = {k: v for k, v in customer.items() if v}
        if record.kind == RecordKind.COMPANY:
            customer["is_b2b"] = True
        self.customers_push([customer])
        return record.external_id
