from email_validator import EmailNotValidError, validate_email
from wtforms import BooleanField, EmailField, HiddenField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from ..billing import BYOL, SUBSCRIPTION, parse_cycle
from ..forms import PlainTextForm, plan_field
from ..models import Account


class ReviewForm(PlainTextForm):
    decision = RadioField(
        "Decision",
        choices=[SelectChoice("accepted", "Accept"), SelectChoice("rejected", "Reject")],
        validators=[DataRequired("Choose accept or reject.")],
    )
    reason = StringField("Reason shown to the customer", validators=[Length(max=500)])

    def validate_reason(self, field):
        if self.decision.data == "rejected" and not (field.data or "").strip():
            raise ValidationError("Say why the proof is rejected; the customer sees this reason.")


class RenameForm(PlainTextForm):
    """Staff fix a typo in a plan's name; checked as the customer's Add License form checks it."""

    plan = plan_field("Plan name")


class AccountStatusForm(PlainTextForm):
    """Suspend or reactivate: the button names the state it wants, so a stale page cannot undo a change."""

    status = HiddenField(validators=[AnyOf([Account.SUSPENDED, Account.ACTIVE])])


class EnrollmentForm(PlainTextForm):
    """Enroll in BYOL or switch to the provider's subscription, by name."""

    BYOL, SUBSCRIPTION = "byol", "subscription"
    enrollment = HiddenField(validators=[AnyOf([BYOL, SUBSCRIPTION])])


class AuthorizationForm(PlainTextForm):
    """Authorize a user or remove the authorization, by name."""

    AUTHORIZED, UNAUTHORIZED = "authorized", "unauthorized"
    authorization = HiddenField(validators=[AnyOf([AUTHORIZED, UNAUTHORIZED])])


class AccessForm(PlainTextForm):
    """Deactivate a user or reactivate them, by name."""

    ACTIVE, DEACTIVATED = "active", "deactivated"
    access = HiddenField(validators=[AnyOf([ACTIVE, DEACTIVATED])])


class InviteForm(PlainTextForm):
    """Invite user: a new customer user of the account gets a link to Set password."""

    email = EmailField("Email", validators=[DataRequired("Enter the email of the person to invite."), Length(max=254)])
    name = StringField("Name", validators=[Length(max=200)])
    authorized = BooleanField("Authorized to open the Onboarding Portal")

    def validate_email(self, field):
        # As for license contacts: no SMTPUTF8, so letters beyond ASCII before the @ are refused here.
        try:
            validate_email(field.data, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError:
            raise ValidationError("Enter a valid email address, like name@example.com, with plain letters before the @.") from None


class AccountSearchForm(PlainTextForm):
    class Meta:
        csrf = False

    q = StringField("Account name", validators=[Length(max=200)])


class BillingFilterForm(PlainTextForm):
    """The billing report's filters, read from the query string."""

    class Meta:
        csrf = False

    cycle = StringField("Cycle (YYYY-MM)", validators=[Length(max=7)])
    mode = SelectField(
        "Mode",
        choices=[SelectChoice("", "All"), SelectChoice(BYOL, BYOL), SelectChoice(SUBSCRIPTION, SUBSCRIPTION)],
        default="",
    )
    q = StringField("Account name", validators=[Length(max=200)])

    def validate_cycle(self, field):
        if field.data and parse_cycle(field.data) is None:
            raise ValidationError("Give the cycle as a month, YYYY-MM, e.g. 2027-01.")
