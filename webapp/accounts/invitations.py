"""Staff invite a customer user: the user is created (or found) and gets a single-use Set password link."""
import smtplib

from flask import current_app
from flask_mail import BadHeaderError

from .. import audit
from ..core import mail
from ..core.database import on_postgresql, write_transaction
from ..core.filters import duration
from ..identity.links import issue
from ..identity.models import AccessToken
from .models import User

INVITED = "invited"
INVITED_AGAIN = "invited again"
ELSEWHERE = "elsewhere"
# What a failed invitation email raises; the user and the link stay, and inviting again sends a new one.
NOT_SENT = (mail.MailSettingsError, smtplib.SMTPException, OSError, BadHeaderError, UnicodeError)
# The password of an invited user who has not set one yet: no hash matches it.
NO_PASSWORD = "!"


def invite_user(account_id, email, name, authorized, valid_for, now):
    """Create the customer user (or find this account's own) and issue an invitation token.

    Returns (outcome, user, token): INVITED for a new user, INVITED_AGAIN for a user of this
    account (a deactivated one is reactivated; the earlier link stops working), ELSEWHERE with no
    token when the email belongs to staff or another account's user.
    """
    with write_transaction():
        user = User.select().where(User.email == email)
        user = (user.for_update() if on_postgresql() else user).first()
        if user is not None and (user.is_admin or user.account_id != account_id):
            return ELSEWHERE, user, None
        if user is None:
            user = User.create(email=email, name=name, account=account_id, is_authorized=authorized,
                               password_hash=NO_PASSWORD)
            outcome = INVITED
            audit.record("user.invited", account=account_id, subject=email,
                         after={"email": email, "name": name, "is_authorized": authorized})
        else:
            was_deactivated = user.deactivated_at is not None
            User.update(deactivated_at=None).where(User.id == user.id).execute()
            user.deactivated_at = None
            outcome = INVITED_AGAIN
            audit.record("user.invited", account=account_id, subject=email,
                         before={"deactivated": True} if was_deactivated else None,
                         after={"invitation": "sent again", **({"deactivated": False} if was_deactivated else {})})
        token = issue(user.id, AccessToken.INVITE, valid_for, now)
    return outcome, user, token


def send_invitation(user, token, account_name, inviter, valid_for):
    """Email the invitation's Set password link; raises one of NOT_SENT when it could not be sent."""
    mail.send_email(
        "invitation", user.email, f"Your invitation to the {current_app.config['PROVIDER_NAME']} Onboarding Portal",
        name=user.name, email=user.email, account_name=account_name, inviter=inviter,
        link=mail.portal_url("auth.set_password", token=token), valid_for=duration(valid_for),
    )
