"""The provider's staff pages: accounts, the changes staff make to accounts and users, proof review,
downloads and history; and that customers cannot reach any of it."""
import threading
import time
from contextlib import contextmanager
from datetime import date

import pytest
from conftest import count_queries
from helpers import (
    insert_license,
    log_in_with_csrf,
    messages_of,
    page_of,
    reload,
    renew_license,
    text_of,
)

from webapp.accounts.models import Account, AccountChange, User
from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses.models import LicenseVersion
from webapp.review.models import ReviewEvent

# --- Accounts list and account page ----------------------------------------------------------


def account_names(response):
    return [a.get_text() for a in page_of(response).select("#accounts tbody td:first-child a")]


def test_the_accounts_list_shows_every_account_with_its_byol_standing(staff, account, make_account):
    insert_license(account, expires_on=date(2099, 12, 31))
    make_account("Fabrikam", byol_enrolled=False)
    make_account("Contoso", status=Account.SUSPENDED)
    response = staff.get("/admin/")
    assert response.status_code == 200
    assert account_names(response) == ["Contoso", "Fabrikam", "Northwind Traders"]
    rows = {tr.find("a").get_text(): " ".join(tr.get_text(" ").split()) for tr in page_of(response).select("#accounts tbody tr")}
    assert "valid until 31 Dec 2099" in rows["Northwind Traders"]
    assert "not enrolled" in rows["Fabrikam"] and "subscription" in rows["Fabrikam"]
    assert "suspended" in rows["Contoso"] and "no proof" in rows["Contoso"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("fab", ["Fabrikam"]),
        ("FAB", ["Fabrikam"]),
        ("  trad ", ["Northwind Traders"]),
        ("o", ["100% Office", "Contoso", "Northwind Traders"]),
        ("%", ["100% Office"]),
        ("_", ["Snake_Case Ltd"]),
        ("zzz", []),
    ],
)
def test_account_search(staff, account, make_account, query, expected):
    for name in ("Fabrikam", "Contoso", "100% Office", "Snake_Case Ltd"):
        make_account(name)
    response = staff.get("/admin/", query_string={"q": query})
    assert response.status_code == 200
    names = account_names(response)
    assert [n for n in names if n in expected] == expected and len(names) == len(expected)
    if not expected:
        assert "No accounts match" in text_of(response)


def test_accounts_are_paged_and_the_search_stays_on_the_pager(staff, make_account):
    for n in range(1, 56):
        make_account(f"Tenant {n:03}")
    make_account("Unrelated Ltd")
    first = staff.get("/admin/", query_string={"q": "tenant"})
    assert account_names(first) == [f"Tenant {n:03}" for n in range(1, 51)]
    pager = page_of(first).find("nav", class_="pager")
    assert [a.get_text() for a in pager.find_all("a")] == ["Next →"]
    assert pager.find("a")["href"] == "/admin/?q=tenant&page=2"

    second = staff.get(pager.find("a")["href"])
    assert account_names(second) == [f"Tenant {n:03}" for n in range(51, 56)]
    assert [a.get_text() for a in page_of(second).find("nav", class_="pager").find_all("a")] == ["← Previous"]

    for page in ("0", "-3", "abc"):
        assert account_names(staff.get("/admin/", query_string={"q": "tenant", "page": page}))[0] == "Tenant 001"
    assert account_names(staff.get("/admin/", query_string={"page": "99"})) == []


def test_the_accounts_list_makes_the_same_queries_for_few_and_many_accounts(staff, make_account):
    for n in range(3):
        insert_license(make_account(f"Small {n}"), plan=f"Plan {n}")
    with count_queries() as few:
        assert staff.get("/admin/").status_code == 200
    for n in range(45):
        insert_license(make_account(f"More {n:02}"), plan="Office 365 E3")
    with count_queries() as many:
        assert staff.get("/admin/").status_code == 200
    # The list's 6, and the 3 counts the staff home leads with (proofs waiting, lapsed accounts, failed reminders).
    assert len(few) == len(many) <= 9, many


def test_the_account_page_shows_users_licenses_and_controls(staff, account, user, make_user):
    make_user("sam@northwind.example", account=account, authorized=False)
    license = insert_license(account, proof_name="e3.pdf")
    response = staff.get(f"/admin/accounts/{account.id}")
    assert response.status_code == 200
    text = text_of(response)
    assert "Northwind Traders" in text and "Status: active" in text and "Billing: BYOL" in text
    assert "pat@northwind.example authorized" in text.replace(" Pat", "")
    assert "sam@northwind.example" in text and "not authorized" in text
    assert "Office 365 E3" in text and "31 Dec 2099" in text and "pending" in text
    page = page_of(response)
    assert page.find("a", href=f"/admin/licenses/{license.id}") is not None
    with db.database.connection_context():
        version = LicenseVersion.get_by_id(license.current_id)
    assert page.find("a", href=f"/admin/proofs/{version.proof_id}").get_text() == "e3.pdf"
    assert page.find("form", action=f"/admin/versions/{version.id}/review") is not None
    assert staff.get("/admin/accounts/999999").status_code == 404


# --- Account and user changes: each form names the state it wants ----------------------------

SUSPEND, REACTIVATE = {"status": "suspended"}, {"status": "active"}
TO_SUBSCRIPTION, TO_BYOL = {"enrollment": "subscription"}, {"enrollment": "byol"}
AUTHORIZE, DEAUTHORIZE = {"authorization": "authorized"}, {"authorization": "unauthorized"}


def form_on(page, action):
    """What the browser posts when the form with this action is submitted: its inputs, as on the page."""
    form = page.find("form", action=action)
    assert form is not None, f"no form posts to {action}"
    return {field["name"]: field.get("value", "") for field in form.find_all("input") if field.get("name")}


def change_path(action, account, user):
    """Where the form of a change posts: "status" and "enrollment" of the account, "authorization" of the user."""
    return f"/admin/users/{user.id}/authorization" if action == "authorization" else f"/admin/accounts/{account.id}/{action}"


def button_on(page, action):
    return page.find("form", action=action).find("button").get_text()


def test_suspending_an_account_refuses_its_users_on_their_next_request(staff, customer, account, user, login):
    assert customer.get("/licenses").status_code == 200

    response = staff.post(f"/admin/accounts/{account.id}/status", data=SUSPEND)
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/accounts/{account.id}"
    assert reload(Account, account.id).status == Account.SUSPENDED
    assert "Northwind Traders is now suspended." in messages_of(staff.get(response.headers["Location"]))

    # The suspension ended the customer's session; signing in again shows why the portal is closed.
    ended = customer.get("/licenses")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert login(customer, user.email).status_code == 302
    refused = customer.get("/licenses")
    assert refused.status_code == 403
    assert "Northwind Traders is suspended" in text_of(refused)
    assert customer.get("/licenses/new").status_code == 403

    response = staff.post(f"/admin/accounts/{account.id}/status", data=REACTIVATE)
    assert "Northwind Traders is now active." in messages_of(staff.get(response.headers["Location"]))
    assert reload(Account, account.id).status == Account.ACTIVE
    assert customer.get("/licenses").status_code == 200


def test_switching_enrollment_shows_billed_by_subscription(staff, customer, account):
    insert_license(account)
    assert "BYOL is valid until 31 Dec 2099" in text_of(customer.get("/licenses"))

    response = staff.post(f"/admin/accounts/{account.id}/enrollment", data=TO_SUBSCRIPTION)
    said = messages_of(staff.get(response.headers["Location"]))
    assert "Northwind Traders is now billed by provider subscription." in said
    assert reload(Account, account.id).byol_enrolled is False
    portal = text_of(customer.get("/licenses"))
    assert "Billed by subscription" in portal and "not enrolled in BYOL" in portal
    assert "BYOL is valid" not in portal
    assert "Billing: provider subscription" in text_of(staff.get(f"/admin/accounts/{account.id}"))

    response = staff.post(f"/admin/accounts/{account.id}/enrollment", data=TO_BYOL)
    assert "Northwind Traders is now enrolled in BYOL." in messages_of(staff.get(response.headers["Location"]))
    assert reload(Account, account.id).byol_enrolled is True
    assert "BYOL is valid until 31 Dec 2099" in text_of(customer.get("/licenses"))


def test_removing_a_users_authorization_refuses_them_at_once(staff, customer, user, account, login):
    response = staff.post(f"/admin/users/{user.id}/authorization", data=DEAUTHORIZE)
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/accounts/{account.id}"
    assert "pat@northwind.example is no longer authorized." in messages_of(staff.get(response.headers["Location"]))
    assert reload(User, user.id).is_authorized is False
    # Removing the authorization ended the session; signing in again shows why the portal is closed.
    ended = customer.get("/licenses")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert login(customer, user.email).status_code == 302
    refused = customer.get("/licenses")
    assert refused.status_code == 403
    assert "not an authorized user" in text_of(refused)

    response = staff.post(f"/admin/users/{user.id}/authorization", data=AUTHORIZE)
    assert "pat@northwind.example is now authorized." in messages_of(staff.get(response.headers["Location"]))
    assert reload(User, user.id).is_authorized is True
    assert customer.get("/licenses").status_code == 200


def test_each_button_names_the_state_it_wants(staff, account, user):
    page_url = f"/admin/accounts/{account.id}"
    status, enrollment = f"/admin/accounts/{account.id}/status", f"/admin/accounts/{account.id}/enrollment"
    authorization = f"/admin/users/{user.id}/authorization"
    page = page_of(staff.get(page_url))
    assert (button_on(page, status), form_on(page, status)) == ("Suspend account", SUSPEND)
    assert (button_on(page, enrollment), form_on(page, enrollment)) == (
        "Switch to provider subscription", TO_SUBSCRIPTION)
    assert (button_on(page, authorization), form_on(page, authorization)) == ("Remove authorization", DEAUTHORIZE)

    for action in (status, enrollment, authorization):
        assert staff.post(action, data=form_on(page, action)).status_code == 302
    page = page_of(staff.get(page_url))
    assert (button_on(page, status), form_on(page, status)) == ("Reactivate account", REACTIVATE)
    assert (button_on(page, enrollment), form_on(page, enrollment)) == ("Enroll in BYOL", TO_BYOL)
    assert (button_on(page, authorization), form_on(page, authorization)) == ("Authorize", AUTHORIZE)


@pytest.mark.parametrize("action, intent, said, state", [
    ("status", SUSPEND, "Northwind Traders already was suspended; nothing changed.",
     lambda account, user: account.status == Account.SUSPENDED),
    ("status", REACTIVATE, "Northwind Traders already was active; nothing changed.",
     lambda account, user: account.status == Account.ACTIVE),
    ("enrollment", TO_SUBSCRIPTION, "Northwind Traders already was billed by provider subscription; nothing changed.",
     lambda account, user: account.byol_enrolled is False),
    ("enrollment", TO_BYOL, "Northwind Traders already was enrolled in BYOL; nothing changed.",
     lambda account, user: account.byol_enrolled is True),
    ("authorization", DEAUTHORIZE, "pat@northwind.example already was not authorized; nothing changed.",
     lambda account, user: user.is_authorized is False),
    ("authorization", AUTHORIZE, "pat@northwind.example already was authorized; nothing changed.",
     lambda account, user: user.is_authorized is True),
])
def test_a_repeat_changes_nothing_and_says_it_already_was(staff, account, user, action, intent, said, state):
    path = change_path(action, account, user)
    staff.post(path, data=intent)  # gets it into the state, unless it already was
    assert state(reload(Account, account.id), reload(User, user.id))

    response = staff.post(path, data=intent)

    assert response.status_code == 302
    assert said in messages_of(staff.get(response.headers["Location"]))
    assert state(reload(Account, account.id), reload(User, user.id))


def test_a_second_admin_on_a_stale_page_does_not_undo_the_first(app, staff, account, make_user, login):
    make_user("sam@provider.example", admin=True)
    other = app.test_client()
    login(other, "sam@provider.example")
    action = f"/admin/accounts/{account.id}/status"
    stale = page_of(other.get(f"/admin/accounts/{account.id}"))

    staff.post(action, data=form_on(page_of(staff.get(f"/admin/accounts/{account.id}")), action))
    assert reload(Account, account.id).status == Account.SUSPENDED
    # The second admin still sees "Suspend account" and clicks it.
    assert button_on(stale, action) == "Suspend account"
    response = other.post(action, data=form_on(stale, action), headers={"HX-Request": "true", "HX-Boosted": "true"})

    assert response.status_code == 302
    assert reload(Account, account.id).status == Account.SUSPENDED
    page = other.get(response.headers["Location"])
    assert "Northwind Traders already was suspended; nothing changed." in messages_of(page)
    assert button_on(page_of(page), action) == "Reactivate account"


@pytest.mark.parametrize("action, intent", [
    ("status", {}), ("status", {"status": "paused"}), ("status", {"status": "SUSPENDED"}),
    ("enrollment", {}), ("enrollment", {"enrollment": "yes"}),
    ("authorization", {}), ("authorization", {"authorization": "true"}),
])
@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["plain", "htmx"])
def test_a_form_that_does_not_name_a_state_is_refused_and_changes_nothing(
    staff, account, user, action, intent, headers
):
    path = change_path(action, account, user)

    response = staff.post(path, data=intent, headers=headers)

    assert response.status_code == 422
    text = text_of(response)
    assert "Nothing was changed" in text and "Reload the account page and use its buttons." in text
    assert ("<html" in response.get_data(as_text=True)) == (not headers)
    assert reload(Account, account.id).status == Account.ACTIVE
    assert reload(Account, account.id).byol_enrolled is True
    assert reload(User, user.id).is_authorized is True


@contextmanager
def row_locked(model, row_id):
    """Hold a write lock on one row (on SQLite, the database's one write lock) until the block ends."""
    with db.database.connection_context():
        if db.database.for_update:
            with db.database.atomic():
                model.select().where(model.id == row_id).for_update().get()
                yield
        else:
            with db.database.atomic("IMMEDIATE"):
                yield


@pytest.mark.parametrize("action, intent, table", [
    ("status", SUSPEND, "account"), ("enrollment", TO_SUBSCRIPTION, "account"), ("authorization", DEAUTHORIZE, "user"),
])
def test_two_admins_clicking_at_once_change_it_once(app, account, user, admin, make_user, login, action, intent, table):
    path = change_path(action, account, user)
    make_user("sam@provider.example", admin=True)
    clients = [app.test_client(), app.test_client()]
    login(clients[0], admin.email)
    login(clients[1], "sam@provider.example")
    said = []

    def click(client):
        response = client.post(path, data=intent)
        said.append(messages_of(client.get(response.headers["Location"])))

    workers = [threading.Thread(target=click, args=(client,)) for client in clients]
    locked = (User, user.id) if table == "user" else (Account, account.id)
    with count_queries() as queries, row_locked(*locked):
        for worker in workers:
            worker.start()
        # Both requests have read the row and sent their UPDATE, which waits for the lock.
        deadline = time.monotonic() + 10
        while sum(f'UPDATE "{table}"' in q for q in list(queries)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # A real wait: peewee logs a statement just before the driver sends it, so give both UPDATEs
        # the moment to reach the database and block on the lock; the race itself is what is tested.
        time.sleep(0.2)
    for worker in workers:
        worker.join(15)

    assert len(said) == 2
    assert sum("is now" in m or "is no longer" in m for m in said) == 1, said
    assert sum("already was" in m for m in said) == 1, said
    changed = reload(Account, account.id), reload(User, user.id)
    assert (changed[0].status, changed[0].byol_enrolled, changed[1].is_authorized) == {
        "status": (Account.SUSPENDED, True, True),
        "enrollment": (Account.ACTIVE, False, True),
        "authorization": (Account.ACTIVE, True, False),
    }[action]


def test_an_admin_has_no_authorization_to_set(staff, admin):
    before = reload(User, admin.id).is_authorized
    assert staff.post(f"/admin/users/{admin.id}/authorization", data=AUTHORIZE).status_code == 404
    assert reload(User, admin.id).is_authorized is before


@pytest.mark.parametrize("path, form", [
    ("/admin/accounts/999999/status", SUSPEND), ("/admin/accounts/999999/enrollment", TO_BYOL),
    ("/admin/users/999999/authorization", AUTHORIZE), ("/admin/versions/999999/review", {"decision": "accepted"}),
])
def test_changes_on_missing_rows_are_404(staff, path, form):
    assert staff.post(path, data=form).status_code == 404


# --- Proof review ----------------------------------------------------------------------------


def test_accepting_proof(staff, customer, account):
    license = insert_license(account)
    response = staff.post(f"/admin/versions/{license.current_id}/review", data={"decision": "accepted"})
    assert response.status_code == 302
    version = reload(LicenseVersion, license.current_id)
    assert version.review_status == "accepted" and version.reviewed_at is not None and version.review_reason == ""
    assert "Proof for Office 365 E3 accepted." in messages_of(staff.get(response.headers["Location"]))
    row = page_of(customer.get("/licenses")).find(id=f"license-{license.id}")
    assert "current" in row.get_text()


def test_rejecting_proof_needs_a_reason(staff, account):
    license = insert_license(account)
    for reason in ("", "   "):
        response = staff.post(f"/admin/versions/{license.current_id}/review",
                              data={"decision": "rejected", "reason": reason})
        assert response.status_code == 302
        assert "Say why the proof is rejected" in messages_of(staff.get(response.headers["Location"]))
        assert reload(LicenseVersion, license.current_id).review_status == "pending"


@pytest.mark.parametrize("decision", [None, "maybe", "pending"])
def test_a_review_needs_a_real_decision(staff, account, decision):
    license = insert_license(account)
    form = {"reason": "x"} if decision is None else {"decision": decision, "reason": "x"}
    response = staff.post(f"/admin/versions/{license.current_id}/review", data=form)
    assert response.status_code == 302
    assert messages_of(staff.get(response.headers["Location"]))
    assert reload(LicenseVersion, license.current_id).review_status == "pending"


def test_rejected_proof_is_shown_to_the_customer_and_lapses_byol(staff, customer, account, today):
    license = insert_license(account, seats=25)
    insert_license(account, plan="Office 365 E1", seats=5, expires_on=date(2099, 6, 30))
    reason = "The document shows another tenant, not northwind.onmicrosoft.com."
    response = staff.post(f"/admin/versions/{license.current_id}/review",
                          data={"decision": "rejected", "reason": f"  {reason} "})
    assert response.status_code == 302
    version = reload(LicenseVersion, license.current_id)
    assert (version.review_status, version.review_reason) == ("rejected", reason)

    portal = customer.get("/licenses")
    row = " ".join(page_of(portal).find(id=f"license-{license.id}").get_text(" ").split())
    assert "proof rejected" in row and reason in row
    byol = " ".join(page_of(portal).find(id="byol-status").get_text(" ").split())
    assert byol.startswith("BYOL has lapsed")
    assert "The proof for Office 365 E3 was rejected, so it counts as missing." in byol
    # The move comes on the first cycle (billing day 1) after today.
    cycle = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    assert f"From the {cycle.day} {cycle:%b %Y} billing cycle, your 30 BYOL users move to subscription billing" in byol
    assert "not refunded" in byol

    # A renewal with new proof is reviewed afresh: BYOL is valid again.
    renew_license(license, date(2100, 12, 31), proof=demo_pdf("new"), proof_name="new.pdf", seats=30)
    assert "BYOL is valid until 30 Jun 2099" in text_of(customer.get("/licenses"))


# --- Documents and history -------------------------------------------------------------------


def test_admin_downloads_any_accounts_proof(staff, make_account):
    content = demo_pdf("Fabrikam proof")
    license = insert_license(make_account("Fabrikam"), proof=content, proof_name="fabrikam.pdf")
    with db.database.connection_context():
        document_id = LicenseVersion.get_by_id(license.current_id).proof_id
    response = staff.get(f"/admin/proofs/{document_id}")
    assert response.status_code == 200
    assert response.data == content
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "fabrikam.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert staff.get("/admin/proofs/999999").status_code == 404


def test_admin_views_a_licenses_history(staff, make_account):
    first, second = demo_pdf("2098"), demo_pdf("2099")
    license = insert_license(make_account("Fabrikam"), expires_on=date(2098, 12, 31), proof=first, proof_name="a.pdf")
    license = renew_license(license, date(2099, 12, 31), proof=second, proof_name="b.pdf", seats=30)
    response = staff.get(f"/admin/licenses/{license.id}")
    assert response.status_code == 200
    rows = page_of(response).find("tbody").find_all("tr")
    assert ["31 Dec 2099" in r.get_text() for r in rows] == [True, False]
    assert ["31 Dec 2098" in r.get_text() for r in rows] == [False, True]
    links = [r.find("a")["href"] for r in rows]
    assert all(href.startswith("/admin/proofs/") for href in links)
    assert [staff.get(href).data for href in links] == [second, first]
    assert staff.get("/admin/licenses/999999").status_code == 404


# --- Who may not ---------------------------------------------------------------------------


def admin_requests(account, user, license, document_id):
    """Every admin route, with the method and form it takes."""
    return [
        ("GET", "/admin/", None),
        ("GET", f"/admin/accounts/{account.id}", None),
        ("GET", f"/admin/licenses/{license.id}", None),
        ("GET", f"/admin/proofs/{document_id}", None),
        ("POST", f"/admin/accounts/{account.id}/status", SUSPEND),
        ("POST", f"/admin/accounts/{account.id}/enrollment", TO_SUBSCRIPTION),
        ("POST", f"/admin/users/{user.id}/authorization", DEAUTHORIZE),
        ("POST", f"/admin/versions/{license.current_id}/review", {"decision": "rejected", "reason": "x"}),
    ]


def test_customers_get_403_on_every_admin_route_and_change_nothing(app, customer, account, user, make_user, login):
    license = insert_license(account)
    with db.database.connection_context():
        document_id = LicenseVersion.get_by_id(license.current_id).proof_id
    unauthorized = app.test_client()
    make_user("sam@northwind.example", account=account, authorized=False)
    login(unauthorized, "sam@northwind.example")
    for client in (customer, unauthorized):
        for method, path, form in admin_requests(account, user, license, document_id):
            response = client.open(path, method=method, data=form)
            assert response.status_code == 403, (method, path)
            assert b"%PDF" not in response.data
    assert reload(Account, account.id).status == Account.ACTIVE
    assert reload(Account, account.id).byol_enrolled is True
    assert reload(User, user.id).is_authorized is True
    assert reload(LicenseVersion, license.current_id).review_status == "pending"


def test_anonymous_visitors_are_sent_to_log_in(client, account, user):
    license = insert_license(account)
    with db.database.connection_context():
        document_id = LicenseVersion.get_by_id(license.current_id).proof_id
    for method, path, form in admin_requests(account, user, license, document_id):
        response = client.open(path, method=method, data=form)
        assert response.status_code == 302, (method, path)
        assert response.headers["Location"].startswith("/login")
    assert reload(Account, account.id).status == Account.ACTIVE


# --- CSRF on admin POSTs ---------------------------------------------------------------------


@pytest.fixture
def csrf_staff(csrf_app, admin):
    """A client of an app with CSRF on, logged in as the admin through the real login form."""
    return log_in_with_csrf(csrf_app.test_client(), admin.email)


def test_admin_posts_without_a_token_are_refused(csrf_staff, account, user):
    license = insert_license(account)
    for path, form in [
        (f"/admin/accounts/{account.id}/status", SUSPEND),
        (f"/admin/accounts/{account.id}/enrollment", TO_SUBSCRIPTION),
        (f"/admin/users/{user.id}/authorization", DEAUTHORIZE),
        (f"/admin/versions/{license.current_id}/review", {"decision": "rejected", "reason": "forged"}),
    ]:
        response = csrf_staff.post(path, data=form)
        assert response.status_code == 400, path
        assert "The form expired" in response.get_data(as_text=True)
        forged = csrf_staff.post(path, data={**form, "csrf_token": "forged"})
        assert forged.status_code == 400, path
    assert reload(Account, account.id).status == Account.ACTIVE
    assert reload(Account, account.id).byol_enrolled is True
    assert reload(User, user.id).is_authorized is True
    assert reload(LicenseVersion, license.current_id).review_status == "pending"


def test_admin_posts_with_the_pages_token_are_accepted(csrf_staff, account, user):
    license = insert_license(account)
    page = page_of(csrf_staff.get(f"/admin/accounts/{account.id}"))

    def token_of(action):
        return page.find("form", action=action).find("input", attrs={"name": "csrf_token"})["value"]

    # Suspend asks first: without JavaScript its button opens a confirmation page whose form carries the token.
    status = f"/admin/accounts/{account.id}/status"
    confirmation = page_of(csrf_staff.get(status, query_string=form_on(page, status)))
    assert csrf_staff.post(status, data=form_on(confirmation, status)).status_code == 302
    assert reload(Account, account.id).status == Account.SUSPENDED

    review = f"/admin/versions/{license.current_id}/review"
    response = csrf_staff.post(review, data={"csrf_token": token_of(review), "decision": "accepted"})
    assert response.status_code == 302
    assert reload(LicenseVersion, license.current_id).review_status == "accepted"

    # A boosted form (hx-boost on the admin pages) may send the token as the htmx header instead.
    meta = page.find("meta", attrs={"name": "csrf-token"})["content"]
    authorization = f"/admin/users/{user.id}/authorization"
    response = csrf_staff.post(authorization, data=DEAUTHORIZE,
                               headers={"HX-Request": "true", "HX-Boosted": "true", "X-CSRFToken": meta})
    assert response.status_code == 302
    assert reload(User, user.id).is_authorized is False


@pytest.mark.parametrize("page_number", ["99999999999999999999", str(2**62)])
def test_an_absurd_page_number_is_an_empty_page_not_a_crash(staff, account, page_number):
    response = staff.get("/admin/", query_string={"page": page_number})
    assert response.status_code == 200
    assert account_names(response) == []


# --- History kept for billing ----------------------------------------------------------------


def _account_changes(account):
    with db.database.connection_context():
        return [
            (c.field, c.previous, c.value, c.changed_by_id)
            for c in AccountChange.select().where(AccountChange.account == account.id).order_by(AccountChange.id)
        ]


def test_status_and_enrollment_changes_are_recorded_once_with_who_made_them(staff, account, admin):
    for form in (SUSPEND, SUSPEND, REACTIVATE):
        staff.post(f"/admin/accounts/{account.id}/status", data=form)
    for form in (TO_SUBSCRIPTION, TO_SUBSCRIPTION, TO_BYOL):
        staff.post(f"/admin/accounts/{account.id}/enrollment", data=form)

    assert _account_changes(account) == [
        ("status", "active", "suspended", admin.id),
        ("status", "suspended", "active", admin.id),
        ("enrollment", "byol", "subscription", admin.id),
        ("enrollment", "subscription", "byol", admin.id),
    ]


def test_a_change_and_its_record_share_one_transaction(staff, account, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(AccountChange, "create", fail)
    with pytest.raises(RuntimeError):
        staff.post(f"/admin/accounts/{account.id}/status", data=SUSPEND)
    assert reload(Account, account.id).status == Account.ACTIVE
    assert _account_changes(account) == []


def test_every_review_is_recorded_with_the_state_it_replaced(staff, account, admin):
    license = insert_license(account)
    path = f"/admin/versions/{license.current_id}/review"
    staff.post(path, data={"decision": "accepted"})
    staff.post(path, data={"decision": "rejected", "reason": "Another tenant"})
    staff.post(path, data={"decision": "rejected", "reason": ""})  # refused: no reason, nothing recorded

    with db.database.connection_context():
        events = [
            (e.previous_status, e.review_status, e.review_reason, e.reviewed_by_id)
            for e in ReviewEvent.select().where(ReviewEvent.version == license.current_id).order_by(ReviewEvent.id)
        ]
    assert events == [("pending", "accepted", "", admin.id), ("accepted", "rejected", "Another tenant", admin.id)]
    assert reload(LicenseVersion, license.current_id).reviewed_at is not None
