"""The email a rejection sends: to the license's contact person and the user who submitted the version."""
import smtplib

from flask_mail import BadHeaderError

from ..accounts.models import Account, User
from ..core import mail
from ..licenses.models import License, LicenseVersion


def rejection_recipients(version):
    """(name, address) pairs: the contact person, then the submitter when known and not the same address."""
    recipients = [(version.contact_name, version.contact_email)]
    submitter = User.get_or_none(User.id == version.submitted_by_id) if version.submitted_by_id else None
    if submitter is not None and submitter.email.lower() != version.contact_email.lower():
        recipients.append((submitter.name, submitter.email))
    return recipients


def send_rejection(version_id):
    """Email the rejection of a version's proof; returns the addresses it could not reach (empty when all went)."""
    version = (
        LicenseVersion.select(LicenseVersion, License).join(License).where(LicenseVersion.id == version_id).first()
    )
    recipients = rejection_recipients(version)
    link = mail.portal_url("portal.licenses")
    subject = f"Proof for {version.license.plan} was not accepted"
    try:
        messages = [
            mail.build_email(
                "proof_rejected", address, subject, to_name=name, name=name, plan=version.license.plan,
                reason=version.review_reason, link=link,
            )
            for name, address in recipients
        ]
        errors = mail.send_many(messages)
    except (mail.MailSettingsError, smtplib.SMTPException, OSError, BadHeaderError, UnicodeError, ValueError):
        return [address for _, address in recipients]
    return [address for (_, address), error in zip(recipients, errors) if error]


def send_removal_refused(license_id, requested_by_id, reason):
    """Email staff's refusal of a removal, with the reason: to whoever asked for it and the license's
    contact person (once each). Returns the addresses it could not reach (empty when all went)."""
    license = (
        License.select(License, LicenseVersion, Account)
        .join(LicenseVersion, on=(License.current == LicenseVersion.id))
        .switch(License)
        .join(Account)
        .where(License.id == license_id)
        .first()
    )
    version = license.current
    recipients = []
    asker = User.get_or_none(User.id == requested_by_id) if requested_by_id else None
    if asker is not None:
        recipients.append((asker.name, asker.email))
    if all(address.lower() != version.contact_email.lower() for _, address in recipients):
        recipients.append((version.contact_name, version.contact_email))
    subject = f"Removal of {license.plan} was not confirmed"
    try:
        messages = [
            mail.build_email(
                "removal_refused", address, subject, to_name=name, name=name, plan=license.plan,
                account_name=license.account.name, reason=reason, link=mail.portal_url("portal.licenses"),
            )
            for name, address in recipients
        ]
        errors = mail.send_many(messages)
    except (mail.MailSettingsError, smtplib.SMTPException, OSError, BadHeaderError, UnicodeError, ValueError):
        return [address for _, address in recipients]
    return [address for (_, address), error in zip(recipients, errors) if error]
