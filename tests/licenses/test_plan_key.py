"""One license per plan: the plan key folds full-width letters, zero-width spaces,
soft hyphens, bidi overrides, case and spacing; migration 0003 recomputes the keys of existing
licenses on both databases and loses none when two become the same plan."""
import shutil
from datetime import date

import pytest
from conftest import TEST_DATABASE_URL, schema_changed
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp import migrations as schema
from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses import store as license_store
from webapp.licenses.models import License
from webapp.licenses.plans import plan_key
from webapp.licenses.proofs import Upload

SAME_AS_OFFICE_365_E3 = [
    "Office 365 E3",
    "office 365 e3",
    "  OFFICE   365\u00a0E3 ",
    "Ｏｆｆｉｃｅ　３６５　Ｅ３",  # full-width letters and digits, ideographic spaces
    "Office 3\u200b65 E3",  # zero-width space
    "Off\u00adice 365 E3",  # soft hyphen
    "\u202eOffice 365 E3\u202c",  # right-to-left override
    "\ufeffOffice 365 E3",  # BOM
    "Office\u2028365 E3",  # line separator
]


@pytest.mark.parametrize("plan", SAME_AS_OFFICE_365_E3)
def test_look_alike_spellings_are_one_plan(plan):
    assert plan_key(plan) == "office 365 e3"


def test_letters_of_other_scripts_stay_different():
    # Cyrillic 'О' and 'е' look like Latin ones; NFKC does not fold scripts (README, "look-alike letters").
    assert plan_key("\u041effic\u0435 365 E3") != plan_key("Office 365 E3")


def test_case_folding_goes_beyond_lower_case():
    assert plan_key("Microsoft 365 STRASSE") == plan_key("Microsoft 365 Straße")
    assert plan_key("ﬁnance plan") == plan_key("Finance Plan")  # ligature


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_key_is_stable(text):
    key = plan_key(text)
    assert plan_key(key) == key
    assert key == key.strip() and "  " not in key


def test_a_full_width_duplicate_is_refused_by_the_form(logged_in, license_form):
    assert logged_in.post("/licenses", data=license_form()).status_code == 302

    response = logged_in.post("/licenses", data=license_form(plan="Ｏｆｆｉｃｅ 365 Ｅ３"))

    assert response.status_code == 422
    assert "already has a license for Office 365 E3" in response.get_data(as_text=True)
    with db.database.connection_context():
        assert License.select().count() == 1


@pytest.mark.parametrize("plan", ["Office 3\u200b65 E3", "Off\u00adice 365 E3", "\u202eOffice 365 E3"])
def test_the_store_refuses_a_format_character_duplicate_even_past_the_form(account, office365, plan):
    terms = {"seats": 5, "term": "Yearly", "expires_on": date(2099, 1, 1), "tenant": "n.onmicrosoft.com",
             "contact_name": "Pat", "contact_email": "pat@northwind.example"}
    with db.database.connection_context():
        license_store.add_license(account, None, office365, "Office 365 E3", terms,
                                  Upload(demo_pdf("a"), "application/pdf", "a.pdf"))
        with pytest.raises(license_store.DuplicatePlan):
            license_store.add_license(account, None, office365, plan, terms,
                                      Upload(demo_pdf("b"), "application/pdf", "b.pdf"))


def test_a_plan_name_whose_key_is_too_long_is_refused_with_a_message(logged_in, license_form):
    # 12 characters, each spelled out by NFKC into 18: past the 200-character key column.
    response = logged_in.post("/licenses", data=license_form(plan="\ufdfa" * 12))

    assert response.status_code == 422
    assert "too long once its special characters" in response.get_data(as_text=True)


# --- migration 0003 ---------------------------------------------------------------------------


@pytest.fixture
def before_0003(tmp_path, app):
    """The app's database emptied and migrated up to 0003, not including it; yields a migration
    directory that holds 0003 and what follows it, for the test to apply."""
    directory = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    held = tmp_path / "held"
    held.mkdir()
    for path in directory.glob("[0-9]*.py"):
        if path.name >= "0003":
            path.rename(held / path.name)
    database = db.database
    schema_changed()
    with database.connection_context():
        if TEST_DATABASE_URL:
            database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        else:
            database.pragma("foreign_keys", 0)
            for table in database.get_tables():
                database.execute_sql(f'DROP TABLE "{table}"')
            database.pragma("foreign_keys", 1)
        schema.upgrade(database, directory)
    for path in held.iterdir():
        path.rename(directory / path.name)
    return directory


def _old_key(plan):
    """The key as the release before 0003 computed it."""
    return " ".join(plan.split()).casefold()


def test_migration_0003_recomputes_keys_and_loses_no_license(before_0003, capsys):
    database = db.database
    plans = [
        (1, 1, "Office 365 E3"),
        (2, 1, "Ｏｆｆｉｃｅ 365 E3"),  # collides with 1
        (3, 1, "Office 3\u200b65 E5"),
        (4, 2, "Ｏｆｆｉｃｅ 365 E3"),  # another account: no collision
        (5, 1, "\ufdfa" * 12),  # a key longer than the column
        (6, 1, "Office 365 E\u00ad3"),  # a third of the same plan (soft hyphen)
    ]
    with database.connection_context():
        with database.atomic():
            for account_id in (1, 2):
                database.execute_sql(
                    'INSERT INTO "account" ("id", "name", "status", "byol_enrolled", "billing_day", "created_at") '
                    f"VALUES ({account_id}, 'Account {account_id}', 'active', {'true' if TEST_DATABASE_URL else 1}, 1, "
                    "'2026-01-01 00:00:00')"
                )
            database.execute_sql('INSERT INTO "product" ("id", "name", "position") VALUES (1, \'MS Office 365\', 0)')
            for license_id, account_id, plan in plans:
                database.execute_sql(
                    'INSERT INTO "license" ("id", "account_id", "product_id", "plan", "plan_key", "created_at", '
                    f'"current_id") VALUES ({license_id}, {account_id}, 1, {database.param}, '
                    f"{database.param}, '2026-01-01 00:00:00', NULL)",
                    [plan, _old_key(plan)],
                )

        applied = schema.upgrade(database, before_0003)

        assert applied == sorted(path.stem for path in before_0003.glob("[0-9]*.py") if path.name >= "0003")
        assert applied[0] == "0003_plan_key_nfkc"
        rows = dict(database.execute_sql('SELECT "id", "plan_key" FROM "license"').fetchall())
        plans_after = dict(database.execute_sql('SELECT "id", "plan" FROM "license"').fetchall())
    assert plans_after == {license_id: plan for license_id, _, plan in plans}  # every license kept, names as they were
    assert rows[1] == "office 365 e3"
    assert rows[2] == "office 365 e3\u20632" and rows[6] == "office 365 e3\u20636"
    assert rows[3] == "office 365 e5"
    assert rows[4] == "office 365 e3"
    assert len(rows[5]) == 200
    printed = capsys.readouterr().out
    assert "license 2 ('Ｏｆｆｉｃｅ 365 E3') is the same plan as license 1" in printed
    assert "license 6" in printed and "license 4" not in printed
