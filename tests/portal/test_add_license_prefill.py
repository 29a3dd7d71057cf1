"""Add License fills what the portal knows: the product when there is only one, the contact from the
signed-in user, the tenant the account's other licenses name most; each stays a field to change."""
from helpers import insert_license, page_of

from webapp.extensions import db
from webapp.licenses.models import Product


def _values(response):
    page = page_of(response)
    selected = page.find("select", id="product").find("option", selected=True)
    return {
        "product": selected.get_text() if selected else None,
        **{name: page.find("input", id=name).get("value", "") for name in ("tenant", "contact_name", "contact_email")},
    }


def test_the_only_product_the_user_and_no_tenant_yet(app, client, account, make_user, login):
    make_user("kim@northwind.example", account=account, name="Kim Lee")
    login(client, "kim@northwind.example")
    values = _values(client.get("/licenses/new"))
    assert values == {"product": "MS Office 365", "tenant": "", "contact_name": "Kim Lee",
                      "contact_email": "kim@northwind.example"}


def test_the_tenant_is_the_one_the_accounts_licenses_name_most(app, logged_in, account, make_account):
    insert_license(account, plan="Office 365 E1", tenant="northwind.onmicrosoft.com")
    insert_license(account, plan="Office 365 E3", tenant="northwind.onmicrosoft.com")
    insert_license(account, plan="Visio Plan 2", tenant="northwind-labs.onmicrosoft.com")
    insert_license(make_account("Fabrikam"), plan="Office 365 E5", tenant="fabrikam.onmicrosoft.com")
    insert_license(make_account("Contoso"), plan="Office 365 E5", tenant="fabrikam.onmicrosoft.com")
    assert _values(logged_in.get("/licenses/new"))["tenant"] == "northwind.onmicrosoft.com"
    # The htmx form (Add License on the tab) is filled the same way.
    fragment = logged_in.get("/licenses/new", headers={"HX-Request": "true"})
    assert _values(fragment)["tenant"] == "northwind.onmicrosoft.com"


def test_with_two_products_the_customer_chooses(app, logged_in):
    with db.database.connection_context():
        Product.create(name="MS Project", position=5)
    assert _values(logged_in.get("/licenses/new"))["product"] is None


def test_prefilled_values_can_be_changed(app, logged_in, account, license_form):
    insert_license(account, plan="Office 365 E1", tenant="northwind.onmicrosoft.com")
    response = logged_in.post("/licenses", data=license_form(
        plan="Office 365 E3", tenant="labs.onmicrosoft.com", contact_name="Sam Roe", contact_email="sam@northwind.example"))
    assert response.status_code == 302
    page = logged_in.get("/licenses").get_data(as_text=True)
    assert "Sam Roe" in page and "sam@northwind.example" in page
