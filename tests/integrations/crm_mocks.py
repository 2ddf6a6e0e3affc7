"""Accounts and `responses` registrations for the vtenext and ActiveCampaign fixtures, shared by
the sync, send-record and admin tests."""

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from responses import matchers

from integrations.models import IntegrationAccount

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

VT_URL = "https://crm.example.com/vtenext"
VT_ENDPOINT = f"{VT_URL}/webservice.php"
VT_ACCESS_KEY = "Gq8rT2kLm5NwX7zA"
# md5("66374385a1c9f" + VT_ACCESS_KEY): the token of getchallenge_ok.json plus the access key
VT_ACCESS_HASH = "1803ef9bc92114eac46938475c317c5e"
VT_SESSION = "7a1c0f93e4b26650a3f2d11e"  # login_ok.json

AC_URL = "https://acmeshop.api-us1.com"
AC_API = f"{AC_URL}/api/3"
AC_TOKEN = "8f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0"


def load(platform: str, name: str) -> dict:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text())


def vt_account(**fields) -> IntegrationAccount:
    return IntegrationAccount.objects.create(
        description=fields.pop("description", "vtenext CRM"),
        platform="vtenext",
        settings={"url": VT_URL, "username": "admin"},
        secrets={"access_key": VT_ACCESS_KEY},
        **fields,
    )


def ac_account(**fields) -> IntegrationAccount:
    return IntegrationAccount.objects.create(
        description=fields.pop("description", "ActiveCampaign"),
        platform="activecampaign",
        settings={"api_url": AC_URL},
        secrets={"api_token": AC_TOKEN},
        **fields,
    )


# --- vtenext -----------------------------------------------------------------------------------


def vt_login(rsps, fixture="login_ok"):
    rsps.get(
        VT_ENDPOINT,
        match=[matchers.query_param_matcher({"operation": "getchallenge", "username": "admin"})],
        json=load("vtenext", "getchallenge_ok"),
    )
    rsps.post(
        VT_ENDPOINT,
        match=[
            matchers.urlencoded_params_matcher(
                {"operation": "login", "username": "admin", "accessKey": VT_ACCESS_HASH}
            )
        ],
        json=load("vtenext", fixture),
    )


def vt_logout(rsps):
    rsps.post(
        VT_ENDPOINT,
        match=[
            matchers.urlencoded_params_matcher({"operation": "logout", "sessionName": VT_SESSION})
        ],
        json=load("vtenext", "logout_ok"),
    )


def vt_statement(module: str, stamp: str, offset: int) -> str:
    select = f"SELECT * FROM {module} WHERE modifiedtime > '{stamp}'"  # noqa: S608
    return f"{select} ORDER BY modifiedtime LIMIT {offset}, 100;"


def vt_query(rsps, module: str, stamp: str, offset: int, body):
    if isinstance(body, str):
        body = load("vtenext", body)
    rsps.get(
        VT_ENDPOINT,
        match=[
            matchers.query_param_matcher(
                {
                    "operation": "query",
                    "sessionName": VT_SESSION,
                    "query": vt_statement(module, stamp, offset),
                }
            )
        ],
        json=body,
    )


def vt_operation(name: str):
    """A matcher for POSTs of one operation, whatever else the form holds."""

    def match(request):
        form = dict(parse_qsl(request.body or ""))
        return form.get("operation") == name, f"operation is not {name}"

    return match


def vt_post(rsps, operation: str, body):
    rsps.post(VT_ENDPOINT, match=[vt_operation(operation)], json=body)


def vt_sent(call) -> dict:
    if call.request.method == "GET":
        return dict(parse_qsl(urlsplit(call.request.url).query))
    return dict(parse_qsl(call.request.body))


def vt_calls(rsps, operation: str) -> list[dict]:
    return [vt_sent(c) for c in rsps.calls if vt_sent(c).get("operation") == operation]


# --- ActiveCampaign ----------------------------------------------------------------------------


def ac_params(call) -> dict:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def ac_list(rsps, since_iso: str, pages: list):
    for offset, page in pages:
        if isinstance(page, str):
            page = load("activecampaign", page)
        rsps.get(
            f"{AC_API}/contacts",
            match=[
                matchers.query_param_matcher(
                    {
                        "filters[updated_after]": since_iso,
                        "orders[id]": "ASC",
                        "limit": "100",
                        "offset": str(offset),
                    }
                )
            ],
            json=page,
        )
