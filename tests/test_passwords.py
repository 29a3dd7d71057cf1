"""Password rules (NIST SP 800-63B): length 12 to 128, no common password, no composition rules."""
from webapp.passwords import MAX_LENGTH, MIN_LENGTH, common_passwords, password_problem


def test_length_bounds():
    assert "at least 12" in password_problem("a" * 5 + "bcdefg")  # 11 characters
    assert password_problem("zebra violin") is None  # 12
    assert password_problem("k" * 60 + "ite" + "q" * (MAX_LENGTH - 63)) is None
    assert "at most 128" in password_problem("z" * (MAX_LENGTH + 1))
    assert MIN_LENGTH == 12


def test_no_composition_rules_letters_only_or_unicode_pass():
    assert password_problem("lowercase words only") is None
    assert password_problem("ünïcödé pässwörd ✓") is None


def test_common_passwords_are_refused_whatever_their_case():
    assert "often" in password_problem("qwerty123456")
    assert "often" in password_problem("QWERTY123456")
    assert "often" in password_problem("1q2w3e4r5t6y")


def test_the_bundled_list_is_thousands_of_lowercase_entries():
    entries = common_passwords()
    assert len(entries) > 10000
    assert "password" in entries and "123456" in entries


def test_the_email_address_is_not_a_password():
    assert "email" in password_problem("pat.doe.smith@northwind.example", "pat.doe.smith@northwind.example")
    assert "email" in password_problem("pat.doe.smith", "Pat.Doe.Smith@northwind.example")


def test_only_spaces_are_refused():
    assert "spaces" in password_problem(" " * 20)
