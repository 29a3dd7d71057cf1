"""The one digest of secret tokens (core/secret_tokens.py): Set password links, sessions, API tokens,
calendar feeds and recovery codes are all stored as it. It replaced five copies, two of which encoded
with plain `.encode()`, so the digests already stored must keep matching: the rows below are written
with the digests those copies wrote, and the live code must still find each one."""
import hashlib
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from webapp.billing.models import ApiToken
from webapp.calendar.models import CalendarFeed
from webapp.core.clock import utcnow
from webapp.core.secret_tokens import digest, new_token
from webapp.extensions import db
from webapp.identity import sessions, two_factor
from webapp.identity.models import AccessToken, LoginSession, RecoveryCode

# A token as new_token() makes them, and a recovery code as stored (lower case, no dashes), each with
# the SHA-256 the earlier copies wrote for it (computed once, by hand, with hashlib and .encode()).
TOKEN = "Hk3vQx0J6n5Yc1pW9zR2bT8aL4mE7uS0dF6gV3hK1jN"
TOKEN_DIGEST = "afb4747d9917630cd375c39ca5f5042f0ddae6923bf6022d4cc4936eaa32b8d8"
RECOVERY_CODE = "abcd2efgh3ijkm4npqr5"
RECOVERY_DIGEST = "b0a59dca1f524d89dbc883bf752a0557ae6d0698b2a01891a4b7e9c4c99f5e53"


def test_the_digest_of_a_token_is_the_one_stored_before():
    assert digest(TOKEN) == TOKEN_DIGEST
    assert digest(RECOVERY_CODE) == RECOVERY_DIGEST


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_for_every_ascii_token_the_digest_is_plain_utf8s(token):
    assert digest(token) == hashlib.sha256(token.encode()).hexdigest()


def test_a_lone_surrogate_hashes_instead_of_raising():
    assert len(digest("\ud800")) == 64 and digest("\ud800") != digest("")


def test_new_tokens_are_random_url_safe_and_long_enough():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 and t.isascii() and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_rows_stored_before_are_still_found(app, client, account, user, admin):
    with db.database.connection_context():
        ApiToken.create(name="stored before", token_hash=TOKEN_DIGEST)
        CalendarFeed.create(account=account.id, token_hash=TOKEN_DIGEST)
        AccessToken.create(token_hash=TOKEN_DIGEST, purpose=AccessToken.RESET, user=user.id,
                           expires_at=utcnow() + timedelta(hours=1))
        LoginSession.create(id=TOKEN_DIGEST, user=user.id)
        RecoveryCode.create(user=admin.id, code_hash=RECOVERY_DIGEST)

    assert client.get("/api/v1/billing", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get(f"/feeds/calendar/{TOKEN}.ics").status_code == 200
    assert client.get(f"/password/set/{TOKEN}", follow_redirects=True).status_code == 200
    with db.database.connection_context():
        signed_in = sessions.load_session_user(TOKEN, app.config["SESSION_IDLE_TIMEOUT"], app.config["SESSION_LIFETIME"])
        assert signed_in is not None and signed_in.id == user.id
        # Typed as the admin reads it: groups, dashes and capitals do not matter.
        assert two_factor.use_recovery_code(admin.id, "ABCD-2EFG-H3IJ-KM4N-PQR5")
