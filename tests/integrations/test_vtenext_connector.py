import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from responses import matchers

from integrations.connectors import UnknownConnector, connector_class
from integrations.connectors.base import ConnectorError, ExternalRecord, RecordKind
from integrations.connectors.vtenext import VtenextConnector

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vtenext"
URL = "https://crm.example.com/vtenext"
ENDPOINT = f"{URL}/webservice.php"
ACCESS_KEY = "Gq8rT2kLm5NwX7zA"
# md5("66374385a1c9f" + ACCESS_KEY): the token of getchallenge_ok.json plus the access key
ACCESS_HASH = "1803ef9bc92114eac46938475c317c5e"
SESSION = "7a1c0f93e4b26650a3f2d11e"  # login_ok.json
SINCE = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def make(**settings) -> VtenextConnector:
    return VtenextConnector(
        settings={"url": URL, "username": "admin", **settings},
        secrets={"access_key": ACCESS_KEY},
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def add_login(rsps, fixture: str | dict = "login_ok"):
    rsps.get(
        ENDPOINT,
        match=[matchers.query_param_matcher({"operation": "getchallenge", "username": "admin"})],
        json=load("getchallenge_ok"),
    )
    rsps.post(
        ENDPOINT,
        match=[
            matchers.urlencoded_params_matcher(
                {"operation": "login", "username": "admin", "accessKey": ACCESS_HASH}
            )
        ],
        json=load(fixture) if isinstance(fixture, str) else fixture,
    )


def add_get(rsps, operation: str, body, session: str = SESSION, **params):
    rsps.get(
        ENDPOINT,
        match=[
            matchers.query_param_matcher({"operation": operation, "sessionName": session, **params})
        ],
        json=body,
    )


def add_query(rsps, statement: str, fixture: str):
    add_get(rsps, "query", load(fixture), query=statement)


def sent(call) -> dict:
    if call.request.method == "GET":
        return dict(parse_qsl(urlsplit(call.request.url).query))
    return dict(parse_qsl(call.request.body))


def operations(rsps) -> list[str]:
    return [sent(call)["operation"] for call in rsps.calls]


def statement(module: str, stamp: str, offset: int) -> str:
    # the exact VTQL the connector must send, LIMIT included
    select = f"SELECT * FROM {module} WHERE modifiedtime > '{stamp}'"  # noqa: S608
    return f"{select} ORDER BY modifiedtime LIMIT {offset}, 100;"


# --- configuration -----------------------------------------------------------------------------


def test_it_accepts_a_complete_config():
    settings = {"url": "http://crm.local/", "username": "admin", "timezone": "Europe/Rome"}
    errors = VtenextConnector.validate_config(settings=settings, secrets={"access_key": "abc"})
    assert errors == {}


def test_it_reports_every_wrong_setting():
    errors = VtenextConnector.validate_config(
        settings={"url": "ftp://crm.local", "username": " ", "timezone": "Mars/Olympus"},
        secrets={"access_key": "abc def"},
    )
    assert set(errors) == {"url", "username", "timezone", "access_key"}
    assert "https://" in errors["url"]


def test_it_requires_url_and_access_key():
    errors = VtenextConnector.validate_config(settings={"username": "admin"}, secrets={})
    assert errors == {"url": "This setting is required.", "access_key": "This secret is required."}


def test_it_accepts_a_pasted_webservice_url():
    connector = VtenextConnector(
        settings={"url": f"{ENDPOINT}", "username": "admin"}, secrets={"access_key": "k"}
    )
    assert connector.endpoint == ENDPOINT


def test_it_is_registered_under_its_key():
    assert connector_class("vtenext") is VtenextConnector
    with pytest.raises(UnknownConnector):
        connector_class("salesforce")


# --- session -----------------------------------------------------------------------------------


def test_it_logs_in_with_the_hashed_challenge(rsps):
    add_login(rsps)

    assert make().verify_credentials() == "Logged in as admin (vtiger 7.5.0)"
    assert operations(rsps) == ["getchallenge", "login"]
    # the access key itself never travels
    assert ACCESS_KEY not in rsps.calls[1].request.body


def test_it_describes_a_vtenext_login_without_its_legacy_version(rsps):
    add_login(rsps, "login_ok_vtenext")

    assert make().verify_credentials() == "Logged in as admin (vtenext, webservice API 0.22)"


def test_it_reuses_one_session_for_several_calls(rsps):
    add_login(rsps)
    add_get(rsps, "retrieve", load("retrieve_contact"), id="12x1044")
    add_get(rsps, "query", load("query_count"), query="SELECT count(*) FROM Contacts;")

    connector = make()
    connector.retrieve("12x1044")
    connector.query("SELECT count(*) FROM Contacts;")
    connector.retrieve("12x1044")

    assert operations(rsps) == ["getchallenge", "login", "retrieve", "query", "retrieve"]
    assert {sent(call).get("sessionName") for call in rsps.calls[2:]} == {SESSION}


@pytest.mark.parametrize(
    "fixture",
    [
        "error_invalid_sessionid",
        "error_session_left_idle",
        "error_session_expired",
        "error_authentication_required",
    ],
)
def test_it_logs_in_again_once_and_repeats_the_call_when_the_session_died(rsps, fixture):
    fresh = load("login_ok")
    fresh["result"]["sessionName"] = "fresh-session"
    add_login(rsps)
    add_get(rsps, "retrieve", load(fixture), id="12x1044")
    add_login(rsps, fresh)
    add_get(rsps, "retrieve", load("retrieve_contact"), session="fresh-session", id="12x1044")

    record = make().retrieve("12x1044")

    assert record["id"] == "12x1044"
    assert operations(rsps) == [
        "getchallenge",
        "login",
        "retrieve",
        "getchallenge",
        "login",
        "retrieve",
    ]
    assert sent(rsps.calls[5])["sessionName"] == "fresh-session"


def test_it_keeps_the_new_session_after_a_relogin(rsps):
    fresh = load("login_ok")
    fresh["result"]["sessionName"] = "fresh-session"
    add_login(rsps)
    add_get(rsps, "retrieve", load("error_invalid_sessionid"), id="12x1044")
    add_login(rsps, fresh)
    add_get(rsps, "retrieve", load("retrieve_contact"), session="fresh-session", id="12x1044")

    connector = make()
    connector.retrieve("12x1044")
    connector.retrieve("12x1044")

    assert operations(rsps).count("login") == 2
    assert operations(rsps)[-1] == "retrieve"


def test_it_surfaces_a_session_error_that_survives_the_relogin(rsps):
    add_login(rsps)
    add_get(rsps, "retrieve", load("error_invalid_sessionid"), id="12x1044")

    with pytest.raises(ConnectorError) as caught:
        make().retrieve("12x1044")

    assert caught.value.code == "INVALID_SESSIONID"
    assert operations(rsps).count("login") == 2
    assert operations(rsps).count("retrieve") == 2


@pytest.mark.parametrize(
    ("fixture", "code", "text"),
    [
        (
            "login_error_invalid_credentials",
            "INVALID_USER_CREDENTIALS",
            "Invalid username or password",
        ),
        ("login_error_ip_banned", "IP_BANNED", "Ip banned because too many unsuccessfully logins"),
        ("error_authentication_required", "AUTHENTICATION_REQUIRED", "Authencation required"),
    ],
)
def test_it_reports_a_login_failure_with_the_server_message(rsps, fixture, code, text):
    add_login(rsps, fixture)

    with pytest.raises(ConnectorError) as caught:
        make().verify_credentials()

    error = caught.value
    assert error.message == f"Login as 'admin' failed: {code}: {text}"
    assert error.code == code
    assert error.credentials_invalid is True
    assert error.transient is False
    # a rejected login is never retried: vtenext bans the IP after a few (§4)
    assert operations(rsps) == ["getchallenge", "login"]


def test_it_does_not_call_the_operation_when_login_fails(rsps):
    add_login(rsps, "login_error_invalid_credentials")

    with pytest.raises(ConnectorError, match="INVALID_USER_CREDENTIALS"):
        make().retrieve("12x1044")

    assert "retrieve" not in operations(rsps)


def test_it_logs_out_on_close(rsps):
    add_login(rsps)
    add_get(rsps, "retrieve", load("retrieve_contact"), id="12x1044")
    rsps.post(
        ENDPOINT,
        match=[matchers.urlencoded_params_matcher({"operation": "logout", "sessionName": SESSION})],
        json=load("logout_ok"),
    )

    connector = make()
    connector.retrieve("12x1044")
    connector.close()
    connector.close()  # nothing left to close

    assert operations(rsps) == ["getchallenge", "login", "retrieve", "logout"]


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "fixture", "code", "message"),
    [
        (
            "query",
            "query_error_syntax",
            "QUERY_SYNTAX_ERROR",
            "QUERY_SYNTAX_ERROR: Syntax Error on line 1: token '' Unexpected $(0), expected one "
            "of: COMMA,SEMICOLON",
        ),
        (
            "retrieve",
            "retrieve_error_access_denied",
            "ACCESS_DENIED",
            "ACCESS_DENIED: Permission to read given object is denied",
        ),
    ],
)
def test_it_turns_success_false_into_an_error_with_code_and_message(
    rsps, operation, fixture, code, message
):
    add_login(rsps)
    rsps.get(ENDPOINT, json=load(fixture))

    connector = make()
    with pytest.raises(ConnectorError) as caught:
        if operation == "query":
            connector.query("SELECT * FROM Contacts")
        else:
            connector.retrieve("12x9999")

    assert caught.value.code == code
    assert caught.value.message == message
    assert caught.value.transient is False
    assert caught.value.credentials_invalid is False
    assert caught.value.raw == load(fixture)


def test_it_reports_a_create_without_mandatory_fields(rsps):
    add_login(rsps)
    rsps.post(ENDPOINT, json=load("create_error_mandatory"))

    with pytest.raises(ConnectorError) as caught:
        make().create("Contacts", {"firstname": "Giulia"})

    assert caught.value.code == "MANDATORY_FIELDS_MISSING"
    assert caught.value.message == "MANDATORY_FIELDS_MISSING: lastname does not have a value"


def test_it_marks_server_errors_transient(rsps):
    add_login(rsps)
    add_get(rsps, "retrieve", load("error_internal_server"), id="12x1044")

    with pytest.raises(ConnectorError) as caught:
        make().retrieve("12x1044")

    assert caught.value.code == "INTERNAL_SERVER_ERROR"
    assert caught.value.transient is True


def test_it_treats_a_non_json_answer_as_a_transient_server_fault(rsps):
    rsps.get(ENDPOINT, body="<html><body>Maintenance in progress</body></html>")

    with pytest.raises(ConnectorError, match="not JSON") as caught:
        make().verify_credentials()

    assert caught.value.transient is True


@pytest.mark.parametrize(("status", "transient"), [(500, True), (503, True), (404, False)])
def test_it_maps_http_status_errors(rsps, status, transient):
    rsps.get(ENDPOINT, status=status, body="")

    with pytest.raises(ConnectorError) as caught:
        make().verify_credentials()

    assert caught.value.code == str(status)
    assert caught.value.transient is transient


def test_it_treats_a_connection_failure_as_transient(rsps):
    rsps.get(ENDPOINT, body=requests.ConnectionError("refused"))

    with pytest.raises(ConnectorError) as caught:
        make().verify_credentials()

    assert caught.value.transient is True
    assert ACCESS_KEY not in caught.value.message


# --- reads -------------------------------------------------------------------------------------


def test_it_pages_every_module_until_an_empty_page(rsps):
    stamp = "2024-05-01 00:00:00"
    add_login(rsps)
    add_query(rsps, statement("Accounts", stamp, 0), "query_accounts")
    add_query(rsps, statement("Accounts", stamp, 2), "query_empty")
    # pages of uneven size: 3 rows, then 2 (shorter than asked, yet not the end), then none
    add_query(rsps, statement("Contacts", stamp, 0), "query_contacts_page")
    add_query(rsps, statement("Contacts", stamp, 3), "query_contacts_page2")
    add_query(rsps, statement("Contacts", stamp, 5), "query_empty")
    add_query(rsps, statement("Leads", stamp, 0), "query_leads_page")
    add_query(rsps, statement("Leads", stamp, 2), "query_empty")

    records = list(make().iter_modified(SINCE))

    assert [(r.kind, r.external_id) for r in records] == [
        ("company", "11x998"),
        ("company", "11x1007"),
        ("contact", "12x1044"),
        ("contact", "12x1051"),
        ("contact", "12x1063"),
        ("contact", "12x1108"),
        ("contact", "12x1112"),
        ("lead", "10x1077"),
        ("lead", "10x1095"),
    ]
    assert operations(rsps).count("login") == 1


def test_it_drops_rows_a_page_repeats(rsps):
    stamp = "2024-05-01 00:00:00"
    repeated = load("query_contacts_page2")
    repeated["result"].insert(0, load("query_contacts_page")["result"][2])
    add_login(rsps)
    add_query(rsps, statement("Accounts", stamp, 0), "query_empty")
    add_query(rsps, statement("Contacts", stamp, 0), "query_contacts_page")
    add_get(rsps, "query", repeated, query=statement("Contacts", stamp, 3))
    add_query(rsps, statement("Contacts", stamp, 6), "query_empty")
    add_query(rsps, statement("Leads", stamp, 0), "query_empty")

    ids = [r.external_id for r in make().iter_modified(SINCE)]

    assert ids == ["12x1044", "12x1051", "12x1063", "12x1108", "12x1112"]


def test_it_compares_modifiedtime_in_the_server_time_zone(rsps):
    stamp = "2024-05-01 02:00:00"  # SINCE in Europe/Rome (CEST)
    add_login(rsps)
    add_query(rsps, statement("Accounts", stamp, 0), "query_empty")
    add_query(rsps, statement("Contacts", stamp, 0), "query_contacts_page")
    add_query(rsps, statement("Contacts", stamp, 3), "query_empty")
    add_query(rsps, statement("Leads", stamp, 0), "query_empty")

    records = list(make(timezone="Europe/Rome").iter_modified(SINCE))

    assert records[0].modified_at == datetime(2024, 5, 3, 16, 22, 5, tzinfo=ZoneInfo("Europe/Rome"))
    assert records[0].modified_at.astimezone(UTC).hour == 14


def test_it_refuses_a_naive_since():
    with pytest.raises(ValueError, match="aware"):
        list(make().iter_modified(datetime(2024, 5, 1)))


def test_it_maps_contacts_by_their_documented_fields(rsps):
    stamp = "2024-05-01 00:00:00"
    add_login(rsps)
    add_query(rsps, statement("Accounts", stamp, 0), "query_empty")
    add_query(rsps, statement("Contacts", stamp, 0), "query_contacts_page")
    add_query(rsps, statement("Contacts", stamp, 3), "query_contacts_page2")
    add_query(rsps, statement("Contacts", stamp, 5), "query_empty")
    add_query(rsps, statement("Leads", stamp, 0), "query_empty")

    giulia, marco, _tom, _elena, luca = make().iter_modified(SINCE)

    assert giulia == ExternalRecord(
        external_id="12x1044",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari",
        phone="+39 347 123 4567",  # raw, as typed in the CRM
        email="giulia.ferrari@example.com",
        company_external_id="11x998",
        company_name="",
        modified_at=datetime(2024, 5, 3, 16, 22, 5, tzinfo=ZoneInfo("UTC")),
        raw=giulia.raw,
    )
    assert giulia.raw["contact_no"] == "CON212"
    assert marco.phone == "3389988776"  # mobile wins over the office phone
    assert marco.company_external_id == ""  # a null reference
    assert luca.phone == "+39 06 555 0199"  # no mobile: the office phone
    assert luca.email == "luca.desantis@example.it"


def test_it_maps_accounts_and_leads(rsps):
    stamp = "2024-05-01 00:00:00"
    add_login(rsps)
    add_query(rsps, statement("Accounts", stamp, 0), "query_accounts")
    add_query(rsps, statement("Accounts", stamp, 2), "query_empty")
    add_query(rsps, statement("Contacts", stamp, 0), "query_empty")
    add_query(rsps, statement("Leads", stamp, 0), "query_leads_page")
    add_query(rsps, statement("Leads", stamp, 2), "query_empty")

    ferrari, northwind, sofia, placeholder = make().iter_modified(SINCE)

    assert (ferrari.kind, ferrari.name, ferrari.phone, ferrari.email) == (
        "company",
        "Ferrari & Figli S.r.l.",
        "+39 051 4455667",
        "info@ferrarifigli.example",
    )
    assert northwind.modified_at == datetime(2024, 5, 1, 12, 15, 33, tzinfo=UTC)
    assert (sofia.kind, sofia.name, sofia.phone, sofia.company_name) == (
        "lead",
        "Sofia Romano",
        "+39 320 555 0101",
        "Romano & C. s.n.c.",
    )
    assert placeholder.name == "WhatsApp +39 333 000 1122"
    assert placeholder.company_name == ""  # the "-" written for the mandatory company


def test_it_unescapes_html_entities_in_every_string(rsps):
    stamp = "2024-05-01 00:00:00"
    add_login(rsps)
    add_query(rsps, statement("Accounts", stamp, 0), "query_empty")
    add_query(rsps, statement("Contacts", stamp, 0), "query_contacts_page")
    add_query(rsps, statement("Contacts", stamp, 3), "query_empty")
    add_query(rsps, statement("Leads", stamp, 0), "query_empty")

    tom = list(make().iter_modified(SINCE))[2]

    assert tom.name == "Tom O'Neill"
    assert tom.raw["lastname"] == "O'Neill"
    assert tom.raw["department"] == "R&D"
    assert "&amp;" not in json.dumps(tom.raw)
    assert "&#039;" not in json.dumps(tom.raw)


def test_it_fetches_one_record_and_recognises_its_kind(rsps):
    escaped_tom = {"success": True, "result": load("query_contacts_page")["result"][2]}
    lead = {"success": True, "result": load("query_leads_by_mobile")["result"][0]}
    account = {"success": True, "result": load("query_accounts")["result"][0]}
    add_login(rsps)
    add_get(rsps, "retrieve", escaped_tom, id="12x1063")
    add_get(rsps, "retrieve", lead, id="10x1077")
    add_get(rsps, "retrieve", account, id="11x998")

    connector = make()
    tom = connector.fetch("12x1063")
    sofia = connector.fetch("10x1077")
    ferrari = connector.fetch("11x998")

    assert (tom.kind, tom.name, tom.raw["department"]) == ("contact", "Tom O'Neill", "R&D")
    assert (sofia.kind, sofia.company_name) == ("lead", "Romano & C. s.n.c.")
    assert (ferrari.kind, ferrari.name) == ("company", "Ferrari & Figli S.r.l.")


# --- writes ------------------------------------------------------------------------------------


def add_post(rsps, fixture: str):
    rsps.post(ENDPOINT, json=load(fixture))


def element_of(call) -> dict:
    return json.loads(sent(call)["element"])


def test_it_revises_only_the_changed_fields_and_the_id(rsps):
    add_login(rsps)
    add_get(rsps, "retrieve", load("retrieve_contact"), id="12x1044")
    add_post(rsps, "revise_contact_ok")
    record = ExternalRecord(
        external_id="12x1044",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari",  # unchanged
        phone="+393471234567",  # changed
        email="giulia.ferrari@example.com",  # unchanged
        company_external_id="11x998",  # unchanged
    )

    assert make().push(record) == "12x1044"

    revise = rsps.calls[-1]
    assert sent(revise)["operation"] == "revise"
    assert sent(revise)["sessionName"] == SESSION
    assert element_of(revise) == {"id": "12x1044", "mobile": "+393471234567"}


def test_it_revises_a_new_name_as_first_and_last_name(rsps):
    add_login(rsps)
    add_get(rsps, "retrieve", load("retrieve_contact"), id="12x1044")
    add_post(rsps, "revise_contact_ok")
    record = ExternalRecord(
        external_id="12x1044", kind=RecordKind.CONTACT, name="Giulia Ferrari Conti", email="g@x.it"
    )

    make().push(record)

    assert element_of(rsps.calls[-1]) == {
        "id": "12x1044",
        "firstname": "Giulia",
        "lastname": "Ferrari Conti",
        "email": "g@x.it",
    }


def test_it_skips_the_revise_when_nothing_changed(rsps):
    add_login(rsps)
    add_get(rsps, "retrieve", load("retrieve_contact"), id="12x1044")
    record = ExternalRecord(
        external_id="12x1044",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari",
        phone="+39 347 123 4567",
        email="",  # empty never blanks the CRM
    )

    assert make().push(record) == "12x1044"
    assert operations(rsps) == ["getchallenge", "login", "retrieve"]


def test_it_creates_a_lead_for_a_number_without_a_name(rsps):
    add_login(rsps)
    add_post(rsps, "create_lead_ok")
    record = ExternalRecord(external_id="", kind=RecordKind.LEAD, phone="+393205550101")

    assert make().push(record) == "10x1090"

    create = sent(rsps.calls[-1])
    assert create["operation"] == "create"
    assert create["elementType"] == "Leads"
    assert json.loads(create["element"]) == {
        "lastname": "+393205550101",
        "mobile": "+393205550101",
        "company": "-",
        "assigned_user_id": "19x5",  # the API user, from login
    }


def test_it_creates_a_contact_linked_to_its_company(rsps):
    created = load("retrieve_contact")
    add_login(rsps)
    rsps.post(ENDPOINT, json=created)
    record = ExternalRecord(
        external_id="",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari",
        phone="+393471234567",
        email="giulia.ferrari@example.com",
        company_external_id="11x998",
    )

    assert make().push(record) == "12x1044"

    create = sent(rsps.calls[-1])
    assert create["elementType"] == "Contacts"
    assert json.loads(create["element"]) == {
        "firstname": "Giulia",
        "lastname": "Ferrari",
        "mobile": "+393471234567",
        "email": "giulia.ferrari@example.com",
        "account_id": "11x998",
        "assigned_user_id": "19x5",
    }


def test_it_refuses_a_company_without_a_name():
    with pytest.raises(ConnectorError, match="accountname"):
        make().push(ExternalRecord(external_id="", kind=RecordKind.COMPANY, phone="+39051"))


@pytest.mark.parametrize(
    ("login", "link_field", "owner"),
    [("login_ok", "contact_id", "19x5"), ("login_ok_vtenext", "parent_id", "19x1")],
)
def test_it_creates_a_helpdesk_ticket_for_a_contact(rsps, login, link_field, owner):
    add_login(rsps, login)
    rsps.post(ENDPOINT, json=load("create_helpdesk_ok"))

    ticket_id = make().ticket_mirror(
        "WhatsApp: order #5531 arrived damaged",
        "Customer sent 2 photos via WhatsApp. Box crushed, one mug broken.",
        "Open",
        "12x1044",
    )

    assert ticket_id == "17x1101"
    create = sent(rsps.calls[-1])
    assert create["elementType"] == "HelpDesk"
    assert json.loads(create["element"]) == {
        "ticket_title": "WhatsApp: order #5531 arrived damaged",
        "description": "Customer sent 2 photos via WhatsApp. Box crushed, one mug broken.",
        "ticketstatus": "Open",
        "ticketpriorities": "Normal",
        link_field: "12x1044",
        "assigned_user_id": owner,
    }


def test_it_adds_a_modcomment_to_a_ticket(rsps):
    add_login(rsps)
    add_post(rsps, "create_modcomment_ok")

    comment_id = make().comment_mirror(
        "17x1101", "[WhatsApp in] Can you send a replacement by Friday?"
    )

    assert comment_id == "31x1102"
    create = sent(rsps.calls[-1])
    assert create["elementType"] == "ModComments"
    assert json.loads(create["element"]) == {
        "commentcontent": "[WhatsApp in] Can you send a replacement by Friday?",
        "related_to": "17x1101",
        "assigned_user_id": "19x5",
    }


# --- deletion (GDPR erasure) -------------------------------------------------------------------


def test_it_deletes_a_record_and_counts_one_already_gone_as_deleted(rsps):
    add_login(rsps)
    rsps.post(
        ENDPOINT,
        match=[
            matchers.urlencoded_params_matcher(
                {"operation": "delete", "sessionName": SESSION, "id": "12x42"}
            )
        ],
        json=load("delete_ok"),
    )
    rsps.post(
        ENDPOINT,
        match=[
            matchers.urlencoded_params_matcher(
                {"operation": "delete", "sessionName": SESSION, "id": "12x43"}
            )
        ],
        json=load("retrieve_error_access_denied"),
    )
    connector = make()
    assert connector.supports_delete
    connector.delete(external_id="12x42", kind="contact")
    connector.delete(external_id="12x43", kind="contact")
    assert operations(rsps)[-2:] == ["delete", "delete"]
