"""Fuzz: random values posted to the login, license (add and update) and admin
forms, as plain posts and as htmx requests, must never give a server error.

The app under test has TESTING on, so an exception in a view reaches the test client and fails the
example as surely as a 500 would. Values mix hostile text (any Unicode,
controls and NUL included), numbers past the database's integer range, odd dates, very long and
repeated fields, with valid values, so examples also get past validation into the database. On
PostgreSQL (TEST_DATABASE_URL) the same examples run against it. Example counts are kept small
(FUZZ_EXAMPLES, default 20 per case: one case per field of each form, and one with every
field at random) so the file stays under a minute.
"""
import io
import os
from datetime import date, timedelta

import pytest
from conftest import PASSWORD
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License, LicenseVersion, Product
from webapp.licenses.proofs import Upload

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 20))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)

HOSTILE = [
    "", " ", "\x00", "a\x00b", "\x1b[2J", "\u202e", "\u200b", "\ufeff", "\u2028", "\r\n", "\t",
    "0", "-1", "1e9", "²", "١٢٣", "9223372036854775808", "-9223372036854775809", str(10**23), "NaN",
    "0000-00-00", "9999-12-31", "10000-01-01", "2026-02-30", "0001-01-01",
    "<script>alert(1)</script>", "' OR 1=1 --", "%s%n", "{{ 7*7 }}", "../../etc/passwd",
    "Ｏｆｆｉｃｅ 365 Ｅ３", "x" * 300, "é" * 1000, "😀" * 60, "\ud7ff", "\U0010ffff",
    "pat@bücher.example", "jürgen@northwind.example", "a@b", "@", "pat@northwind.example",
    "northwind.onmicrosoft.com", "Yearly", "Monthly", "accepted", "rejected",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=80), st.text(max_size=400))


# One character slipped into an otherwise valid value: controls, format and bidi characters,
# separators, and letters that look plain but are not.
SLIPPED = st.one_of(
    st.just("\x00"),  # PostgreSQL refuses it in text: the audit's 500
    st.sampled_from(["\x00", "\x1b", "\x07", "\x7f", "\x85", "\u00ad", "\u200b", "\u200d", "\u202e",
                     "\u2066", "\ufeff", "\u2028", "\u3000", "\uff21", "\u0430", "\u0301", "\t", "\n"]),
    st.characters(codec="utf-8"),
)


def slipped_into(valid):
    """`valid` with one character inserted somewhere."""
    return st.tuples(st.integers(0, len(valid)), SLIPPED).map(lambda at: valid[:at[0]] + at[1] + valid[at[0]:])


def value_or(valid):
    """A field's value: mostly hostile, sometimes valid, sometimes missing or sent twice."""
    return st.one_of(
        hostile_text,
        slipped_into(valid),
        slipped_into(valid),
        st.just(valid),
        st.just(None),
        st.lists(st.one_of(hostile_text, st.just(valid)), min_size=2, max_size=3),
    )


def _without_missing(data):
    return {name: value for name, value in data.items() if value is not None}


def form_data(fields, focus=None):
    """A strategy for a dict of form fields, from {name: valid value}.

    With `focus`, that field is hostile and the others valid, so the example gets past the other
    checks and the focused value reaches whatever the view does with it (the database included).
    Without, every field is hostile or valid at random.
    """
    if focus is not None:
        chosen = {name: value_or(valid) if name == focus else st.just(valid) for name, valid in fields.items()}
    else:
        chosen = {name: value_or(valid) for name, valid in fields.items()}
    return st.fixed_dictionaries(chosen).map(_without_missing)


def check(response):
    """No server error; the status is an event, so --hypothesis-show-statistics shows how many
    examples got past validation (302, 200) and how many were refused (422, 401, 400, 404)."""
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]


headers = st.sampled_from([{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-Boosted": "true"}])


LOGIN_FIELDS = {"email": "pat@northwind.example", "password": PASSWORD, "next": "/licenses"}


@pytest.mark.parametrize("focus", [*LOGIN_FIELDS, None])
@FUZZ
@given(data=st.data(), query=st.one_of(st.just({}), st.fixed_dictionaries({"next": hostile_text})), headers=headers)
def test_login_form(app, user, focus, data, query, headers):
    client = app.test_client()
    fields = data.draw(form_data(LOGIN_FIELDS, focus))
    check(client.post("/login", data=fields, query_string=query, headers=headers))


def _proof_file(kind):
    if kind == "pdf":
        return (io.BytesIO(demo_pdf("fuzz")), "proof.pdf")
    if kind == "junk":
        return (io.BytesIO(b"\x00junk" * 10), "proof\x00.pdf")
    if kind == "empty":
        return (io.BytesIO(b""), "")
    return None


def license_fields(office365, today):
    return {
        "product": str(office365.id) if office365 else "1",
        "plan": "Office 365 E3",
        "seats": "25",
        "term": "Yearly",
        "expires_on": (today + timedelta(days=200)).isoformat(),
        "tenant": "northwind.onmicrosoft.com",
        "contact_name": "Pat Doe",
        "contact_email": "pat@northwind.example",
        "kept_proof": "",
    }


@pytest.fixture
def fuzz_license(app, account, user):
    """A license of the account, for the update form."""
    with db.database.connection_context():
        product = Product.get(Product.name == "MS Office 365")
        return license_store.add_license(
            account, None, product, "Existing plan",
            {"seats": 5, "term": "Yearly", "expires_on": date.today() + timedelta(days=100),
             "tenant": "northwind.onmicrosoft.com", "contact_name": "Pat", "contact_email": "pat@northwind.example"},
            Upload(demo_pdf("existing"), "application/pdf", "existing.pdf"),
        )


@pytest.mark.parametrize("focus", [*license_fields(None, date.today()), None])
@FUZZ
@given(data=st.data(), proof=st.sampled_from(["pdf", "pdf", "pdf", "junk", "empty", None]), headers=headers,
       update=st.booleans())
def test_license_forms(app, logged_in, office365, today, fuzz_license, focus, data, proof, headers, update):
    fields = data.draw(form_data(license_fields(office365, today), focus))
    file = _proof_file(proof)
    if file is not None:
        fields["proof"] = file
    path = f"/licenses/{fuzz_license.id}/update" if update else "/licenses"
    check(logged_in.post(path, data=fields, headers=headers, content_type="multipart/form-data"))


@pytest.fixture
def staff(app, admin, login):
    client = app.test_client()
    login(client, admin.email)
    return client


ADMIN_FORMS = ["search", "status", "enrollment", "authorization", "review"]


@pytest.mark.parametrize("form", ADMIN_FORMS)
@FUZZ
@given(data=st.data(), headers=headers, focused=st.booleans())
def test_admin_forms(app, staff, account, user, fuzz_license, form, data, headers, focused):
    with db.database.connection_context():
        version_id = LicenseVersion.select(LicenseVersion.id).join(License).where(
            License.id == fuzz_license.id).scalar()
    path, fields = {
        "search": ("/admin/", {"q": "North", "page": "2"}),
        "status": (f"/admin/accounts/{account.id}/status", {"status": "suspended"}),
        "enrollment": (f"/admin/accounts/{account.id}/enrollment", {"enrollment": "byol"}),
        "authorization": (f"/admin/users/{user.id}/authorization", {"authorization": "authorized"}),
        "review": (f"/admin/versions/{version_id}/review", {"decision": "rejected", "reason": "Blurry scan"}),
    }[form]
    focus = data.draw(st.sampled_from(sorted(fields))) if focused else None
    values = data.draw(form_data(fields, focus))
    if form == "search":
        check(staff.get(path, query_string=values, headers=headers))
    else:
        check(staff.post(path, data=values, headers=headers))


@pytest.mark.parametrize("form", ["invite", "access"])
@FUZZ
@given(data=st.data(), headers=headers, focused=st.booleans())
def test_people_admin_forms(app, staff, account, user, form, data, headers, focused):
    # MAIL_SERVER points nowhere here: an invitation that gets past validation fails to send, which
    # the page reports; that path must not error either.
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9, MAIL_TIMEOUT=2)
    path, fields = {
        "invite": (f"/admin/accounts/{account.id}/invitations",
                   {"email": "new@northwind.example", "name": "New Person", "authorized": "y"}),
        "access": (f"/admin/users/{user.id}/access", {"access": "deactivated"}),
    }[form]
    focus = data.draw(st.sampled_from(sorted(fields))) if focused else None
    check(staff.post(path, data=data.draw(form_data(fields, focus)), headers=headers))


PASSWORD_FIELDS = {"current_password": PASSWORD, "new_password": "a new passphrase here",
                   "confirm_password": "a new passphrase here"}


@pytest.mark.parametrize("focus", [*PASSWORD_FIELDS, None])
@FUZZ
@given(data=st.data(), headers=headers)
def test_password_forms(app, user, login, focus, data, headers):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9, MAIL_TIMEOUT=2, RESET_MAX_PER_EMAIL=10**6,
                      RESET_MAX_PER_ADDRESS=10**6, LOGIN_MAX_FAILURES_PER_EMAIL=10**6)
    fields = data.draw(form_data(PASSWORD_FIELDS, focus))
    client = app.test_client()
    check(client.post("/password/forgot", data={"email": fields.get("new_password", "")}, headers=headers))
    check(client.post("/password/set/" + "A" * 43, data=fields, headers=headers))
    check(client.post("/password/set", data=fields, headers=headers))  # no link opened in this browser
    login(client, user.email)
    check(client.post("/password/change", data=fields, headers=headers))
