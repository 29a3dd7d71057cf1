"""Customers know whom to ask: the refusal page and the Client Licenses tab's Users panel
name the account's authorized users (active, not staff), and never anyone of another account."""

from conftest import count_queries
from helpers import page_of, text_of

from webapp.accounts import directory
from webapp.accounts import store as account_store
from webapp.accounts.models import Account, User
from webapp.core.clock import utcnow
from webapp.extensions import db

HTMX = {"HX-Request": "true"}
HOSTILE_NAME = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
HOSTILE_EMAIL = "o'<b>x</b>@northwind.example"


def people_in(element):
    """(name shown, email linked) of each person listed in `element`."""
    listed = []
    for item in element.select("ul.people li"):
        link = item.find("a")
        if link is None:
            continue
        assert link["href"] == f"mailto:{link.get_text()}"
        listed.append((text_of(item).removesuffix(link.get_text()).strip(" —"), link.get_text()))
    return listed


def deactivate(user):
    with db.database.connection_context():
        assert account_store.set_deactivated(user.id, True, utcnow())


def the_account_and_its_people(make_account, make_user, account):
    """Around `account`: one more authorized user, a deactivated one, a staff admin attached to it
    by hand, and another account with its own authorized user."""
    ada = make_user("ada@northwind.example", account=account, name="Ada Lovelace")
    dee = make_user("dee@northwind.example", account=account, name="Dee Parted")
    deactivate(dee)
    make_user("staff@provider.example", account=account, admin=True, name="Staff Person")
    fabrikam = make_account("Fabrikam")
    make_user("eve@fabrikam.example", account=fabrikam, name="Eve Elsewhere")
    return ada


def assert_only_ours(text):
    for stranger in ("dee@northwind.example", "Dee Parted", "staff@provider.example", "Staff Person",
                     "eve@fabrikam.example", "Eve Elsewhere"):
        assert stranger not in text


# --- The refusal page ------------------------------------------------------------------------


def test_the_refusal_names_the_accounts_active_authorized_users_only(
    client, login, make_account, make_user, account
):
    the_account_and_its_people(make_account, make_user, account)
    make_user("bob@northwind.example", account=account, name="bob Builder")
    make_user("uma@northwind.example", account=account, authorized=False, name="Uma Waiting")
    login(client, "uma@northwind.example")

    refused = client.get("/licenses")

    assert refused.status_code == 403
    notice = page_of(refused).find(role="alert")
    assert "You cannot open the Onboarding Portal" in text_of(notice)
    assert "Ask one of your company's authorized users" in text_of(notice)
    # By name, ignoring case; Uma herself is not authorized, so not listed.
    assert people_in(notice) == [("Ada Lovelace", "ada@northwind.example"), ("bob Builder", "bob@northwind.example")]
    assert_only_ours(refused.get_data(as_text=True))


def test_with_no_authorized_user_the_refusal_says_so_and_points_at_the_provider(
    app, client, login, make_account, make_user, account
):
    make_user("uma@northwind.example", account=account, authorized=False, name="Uma Waiting")
    dee = make_user("dee@northwind.example", account=account, name="Dee Parted")
    deactivate(dee)
    other = make_account("Fabrikam")
    make_user("eve@fabrikam.example", account=other, name="Eve Elsewhere")
    login(client, "uma@northwind.example")

    refused = client.get("/licenses")

    assert refused.status_code == 403
    notice = page_of(refused).find(role="alert")
    assert "Your account has no authorized users yet" in text_of(notice)
    support = app.config["SUPPORT_EMAIL"]
    assert notice.find("a", href=f"mailto:{support}") is not None
    assert people_in(notice) == []
    assert_only_ours(refused.get_data(as_text=True))


def test_a_suspended_accounts_refusal_points_at_the_provider_not_at_colleagues(
    app, client, login, make_account, make_user
):
    suspended = make_account("Suspended Co", status=Account.SUSPENDED)
    make_user("pat@suspended.example", account=suspended, name="Pat Member")
    make_user("ada@suspended.example", account=suspended, name="Ada Colleague")
    login(client, "pat@suspended.example")

    with count_queries() as queries:
        refused = client.get("/licenses")

    assert refused.status_code == 403
    notice = page_of(refused).find(role="alert")
    assert "The account Suspended Co is suspended" in text_of(notice)
    assert notice.find("a", href=f"mailto:{app.config['SUPPORT_EMAIL']}") is not None
    assert "Ada Colleague" not in text_of(notice) and "ada@suspended.example" not in text_of(notice)
    # Not even looked up: only the provider lifts a suspension.
    assert not [q for q in queries if 'FROM "user"' in q], queries


def test_hostile_names_and_emails_are_escaped_on_the_refusal(client, login, make_user, account):
    make_user(HOSTILE_EMAIL, account=account, name=HOSTILE_NAME)
    make_user("uma@northwind.example", account=account, authorized=False)
    login(client, "uma@northwind.example")

    refused = client.get("/licenses")

    assert refused.status_code == 403
    page = page_of(refused)
    assert page.find("script", string="alert(1)") is None and page.find("img") is None and page.find("b") is None
    assert people_in(page.find(role="alert")) == [(HOSTILE_NAME, HOSTILE_EMAIL)]


# --- The Users panel ---------------------------------------------------------------------------


def test_the_users_panel_lists_the_accounts_active_authorized_users(
    logged_in, make_account, make_user, account
):
    the_account_and_its_people(make_account, make_user, account)
    make_user("uma@northwind.example", account=account, authorized=False, name="Uma Waiting")

    response = logged_in.get("/licenses")

    assert response.status_code == 200
    panel = page_of(response).find(id="users-panel")
    assert text_of(panel.find("h2")) == "Users"
    # The signed-in user has no name: listed by email, and sorted by it among the names.
    assert people_in(panel) == [("Ada Lovelace", "ada@northwind.example"), ("", "pat@northwind.example")]
    assert "Uma Waiting" not in text_of(panel)
    assert_only_ours(response.get_data(as_text=True))


def test_the_users_panel_escapes_hostile_names_and_emails(logged_in, make_user, account):
    make_user(HOSTILE_EMAIL, account=account, name=HOSTILE_NAME)

    response = logged_in.get("/licenses")

    page = page_of(response)
    assert page.find("img") is None and page.find("b") is None
    assert not [s for s in page.find_all("script") if "alert" in s.get_text()]
    assert (HOSTILE_NAME, HOSTILE_EMAIL) in people_in(page.find(id="users-panel"))


def test_the_users_panel_sits_outside_what_htmx_swaps(logged_in):
    page = page_of(logged_in.get("/licenses"))
    assert page.find(id="users-panel") is not None
    assert page.find(id="licenses-panel").find(id="users-panel") is None
    fragment = logged_in.get("/licenses", headers=HTMX)
    assert fragment.status_code == 200
    assert page_of(fragment).find(id="users-panel") is None


def test_a_long_list_stops_at_the_limit_and_says_there_are_others(logged_in, make_user, account):
    for n in range(directory.AUTHORIZED_USERS_SHOWN + 4):
        make_user(f"user{n:02}@northwind.example", account=account, name=f"User {n:02}")

    panel = page_of(logged_in.get("/licenses")).find(id="users-panel")

    listed = people_in(panel)
    assert len(listed) == directory.AUTHORIZED_USERS_SHOWN
    assert listed[:2] == [("", "pat@northwind.example"), ("User 00", "user00@northwind.example")]
    assert listed[-1] == ("User 18", "user18@northwind.example")
    assert "and others" in text_of(panel)


def test_the_users_panel_costs_one_query_whatever_the_number_of_users(logged_in, make_user, account):
    """The full page makes exactly one query more than the fragment (the Users panel), for 1 or 30 users."""
    logged_in.get("/licenses")  # the session was just touched: the next requests only read
    with count_queries() as fragment:
        assert logged_in.get("/licenses", headers=HTMX).status_code == 200
    with count_queries() as one_user:
        assert logged_in.get("/licenses").status_code == 200
    for n in range(29):
        make_user(f"user{n:02}@northwind.example", account=account)
    with count_queries() as many_users:
        assert logged_in.get("/licenses").status_code == 200
    assert len(one_user) == len(fragment) + 1, (fragment, one_user)
    assert len(many_users) == len(one_user), (one_user, many_users)


def test_authorized_users_of_is_scoped_to_the_account(app, make_account, make_user, account):
    ours = make_user("pat@northwind.example", account=account)
    other = make_account("Fabrikam")
    theirs = make_user("eve@fabrikam.example", account=other)
    with db.database.connection_context():
        assert [u.id for u in directory.authorized_users_of(account.id)] == [ours.id]
        assert [u.id for u in directory.authorized_users_of(other.id)] == [theirs.id]
        assert User.select().count() == 2
