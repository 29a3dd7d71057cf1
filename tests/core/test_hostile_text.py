"""Text that breaks things: control, format and bidi-override characters are
refused with a message in every text input (forms, the admin search, CLI arguments), before anything
reaches the database; PostgreSQL refuses a NUL in text, so on it a NUL used to be a 500."""
import io
from datetime import timedelta

import pytest
from conftest import PASSWORD
from helpers import page_of

from webapp.accounts.models import Account, User
from webapp.cli.demo import demo_pdf
from webapp.core.text import hidden_character
from webapp.extensions import db
from webapp.licenses.models import License, LicenseVersion, ProofDocument
from webapp.licenses.proofs import unused

HTMX = {"HX-Request": "true"}
REFUSED = "invisible or control character"

# What the audit used, and their kin: NUL, a terminal escape, a bell, DEL, a C1 control, a
# zero-width space, a soft hyphen, a right-to-left override, a BOM, the line and paragraph
# separators, and tab/newline in single-line fields.
HIDDEN = ["\x00", "\x1b[2J", "\x07", "\x7f", "\x85", "\u200b", "\u00ad", "\u202e", "\ufeff", "\u2028",
          "\u2029", "\t", "\n"]


def field_error(response, field_id):
    box = page_of(response).find(id=f"{field_id}-error")
    return "" if box is None else " ".join(box.get_text(" ").split())


def count(model, *where):
    with db.database.connection_context():
        query = model.select()
        return (query.where(*where) if where else query).count()


# --- the check itself -------------------------------------------------------------------------


@pytest.mark.parametrize("ch", HIDDEN)
def test_hidden_characters_are_found(ch):
    assert hidden_character(f"Office 365{ch}E3") == ch[0]


@pytest.mark.parametrize("text", ["Office 365 E3", "Ｏｆｆｉｃｅ 365", "Müller-Lüdenscheidt", "東京 Ltd", "Ωmega 😀",
                                  "Pat\u00a0Doe"])
def test_ordinary_text_passes(text):
    assert hidden_character(text) is None


def test_a_multiline_field_may_hold_tabs_and_line_breaks_but_nothing_else():
    assert hidden_character("line one\r\n\tline two", multiline=True) is None
    assert hidden_character("line one\n\x00", multiline=True) == "\x00"
    assert hidden_character("line one\u2028line two", multiline=True) == "\u2028"


# --- login ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["email", "password"])
@pytest.mark.parametrize("ch", ["\x00", "\x1b", "\u202e"])
def test_login_refuses_hidden_characters_with_a_message(client, user, field, ch):
    data = {"email": user.email, "password": PASSWORD}
    data[field] += ch

    response = client.post("/login", data=data)

    assert response.status_code == 422
    assert REFUSED in field_error(response, field)
    assert client.get("/licenses").status_code == 302  # not logged in


@pytest.mark.parametrize("next_target", ["/licenses/new\x00", "/licenses/\u202enew", "/help\x1b[2J"])
def test_a_next_with_hidden_characters_is_dropped_and_the_login_goes_on(client, user, next_target):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "next": next_target})

    assert response.status_code == 302
    assert response.headers["Location"] == "/licenses"


# --- the license forms ------------------------------------------------------------------------


@pytest.mark.parametrize("field, ch", [("plan", ch) for ch in HIDDEN] + [
    (field, ch) for field in ("tenant", "contact_name", "contact_email") for ch in ("\x00", "\x1b", "\u202e", "\t")
])
def test_add_license_refuses_hidden_characters_next_to_the_field(logged_in, license_form, field, ch):
    value = license_form()[field]
    response = logged_in.post("/licenses", data=license_form(**{field: value[:3] + ch + value[3:]}))

    assert response.status_code == 422
    assert REFUSED in field_error(response, field)
    assert count(License) == 0 and count(LicenseVersion) == 0


def test_a_nul_in_the_plan_stores_no_license_and_keeps_the_upload_for_the_next_try(logged_in, license_form, account):
    """The audit's 500 on PostgreSQL came after the proof was stored; now the form is refused first,
    and the valid upload is kept like on any failed form, so the corrected Save uses it."""
    response = logged_in.post("/licenses", data=license_form(plan="Office 365\x00 E3"))

    assert response.status_code == 422
    assert count(License) == 0
    assert count(ProofDocument, ProofDocument.account == account.id, unused()) == 1
    kept = page_of(response).find("input", attrs={"name": "kept_proof"})["value"]

    saved = logged_in.post("/licenses", data=license_form(proof=None, kept_proof=kept))

    assert saved.status_code == 302
    assert count(License) == 1 and count(ProofDocument) == 1


def test_add_license_over_htmx_gets_the_form_fragment_with_the_message(logged_in, license_form):
    response = logged_in.post("/licenses", data=license_form(contact_name="Pat\u202eeoD"), headers=HTMX)

    assert response.status_code == 422
    assert "<html" not in response.get_data(as_text=True)
    assert REFUSED in field_error(response, "contact_name")


def test_a_damaged_kept_proof_value_is_refused_with_a_message(logged_in, license_form):
    response = logged_in.post("/licenses", data=license_form(kept_proof="1\x00"))

    assert response.status_code == 422
    assert "The form sent back a damaged value" in response.get_data(as_text=True)
    assert count(License) == 0


def test_update_refuses_a_nul_and_adds_no_version(logged_in, license_form, today):
    assert logged_in.post("/licenses", data=license_form()).status_code == 302
    with db.database.connection_context():
        license = License.get()
    renewal = license_form(expires_on=(today + timedelta(days=400)).isoformat(), contact_email="pat@north\x00wind.example",
                           proof=(io.BytesIO(demo_pdf("Renewed")), "renewed.pdf"))

    response = logged_in.post(f"/licenses/{license.id}/update", data=renewal)

    assert response.status_code == 422
    assert REFUSED in field_error(response, "contact_email")
    assert count(LicenseVersion) == 1


# --- admin ------------------------------------------------------------------------------------


@pytest.fixture
def staff(app, admin, login):
    client = app.test_client()
    login(client, admin.email)
    return client


@pytest.mark.parametrize("q", ["North\x00", "\x1b[31mNorth", "North\u202e"])
def test_the_account_search_refuses_hidden_characters_with_a_message(staff, account, q):
    response = staff.get("/admin/", query_string={"q": q})

    assert response.status_code == 422
    assert REFUSED in field_error(response, "q")
    assert account.name not in response.get_data(as_text=True)


def test_a_review_reason_with_a_nul_is_refused_and_records_nothing(staff, logged_in, license_form):
    assert logged_in.post("/licenses", data=license_form()).status_code == 302
    with db.database.connection_context():
        version = LicenseVersion.get()

    response = staff.post(f"/admin/versions/{version.id}/review",
                          data={"decision": "rejected", "reason": "Blurry\x00 scan"}, follow_redirects=True)

    assert response.status_code == 200
    assert REFUSED in response.get_data(as_text=True)
    with db.database.connection_context():
        assert LicenseVersion.get_by_id(version.id).review_status == LicenseVersion.PENDING


# --- CLI arguments that become data -----------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["create-account", "Northwind\x00 Traders"],
    ["create-account", "\x1b[2JNorthwind"],
    ["create-account", "Northwind\u202eTraders"],
])
def test_create_account_refuses_hidden_characters(runner, args):
    result = runner.invoke(args=args)

    assert result.exit_code == 2
    assert REFUSED in result.output
    assert count(Account) == 0


@pytest.mark.parametrize("option, value", [("--name", "Pat\x00"), ("--password", "pass\x00word"),
                                           ("--account", "Northwind Traders\x1b")])
def test_create_user_refuses_hidden_characters(runner, account, option, value):
    args = ["create-user", "pat@northwind.example", "--account", account.name, "--password", PASSWORD]
    args += [option, value]

    result = runner.invoke(args=args)

    assert result.exit_code == 2 and REFUSED in result.output
    assert count(User) == 0


def test_create_admin_refuses_a_nul_in_the_email(runner):
    result = runner.invoke(args=["create-admin", "staff\x00@provider.example", "--password", PASSWORD])

    assert result.exit_code == 2 and REFUSED in result.output
    assert count(User) == 0
