import re
from datetime import date

from email_validator import EmailNotValidError, validate_email
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from .. import audit
from ..accounts import listing as account_list
from ..accounts.models import Account
from ..audit import log as audit_log
from ..billing.rules import BYOL, SUBSCRIPTION, parse_cycle
from ..core.forms import ListedChoiceField, PlainTextForm
from ..core.row_ids import parse_row_id
from ..licenses.plans import plan_field

_DATE_HELP = "Give the date as YYYY-MM-DD, for example 2026-12-01."
_DAMAGED_PAGE = "This page link is damaged. Start again from the newest entries."


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


class RemovalForm(PlainTextForm):
    """Staff confirm or refuse a customer's removal of a lapsed plan; a refusal says why (the customer is emailed)."""

    decision = RadioField(
        "Decision",
        choices=[SelectChoice("confirm", "Confirm removal"), SelectChoice("refuse", "Refuse")],
        validators=[DataRequired("Choose to confirm or refuse the removal.")],
    )
    reason = StringField("Reason shown to the customer", validators=[Length(max=500)])

    def validate_reason(self, field):
        if self.decision.data == "refuse" and not (field.data or "").strip():
            raise ValidationError("Say why the removal is refused; the customer is emailed this reason.")


class RenameForm(PlainTextForm):
    """Staff fix a typo in a plan's name; checked as the customer's Add License form checks it."""

    plan = plan_field("Plan name")


class IntentForm(PlainTextForm):
    """The state a change's button asks for, by name, so a stale page or a second click cannot undo a change.

    A subclass has one hidden field; `question` is what a request without a valid one failed to say,
    and `intended` the state it names, as the store and the confirmation take it.
    """

    question = ""

    @property
    def field(self):
        """The one field that carries the intent (the CSRF token aside)."""
        (field,) = [field for field in self if field.name != "csrf_token"]
        return field


class AccountStatusForm(IntentForm):
    """Suspend or reactivate: the account status wanted."""

    question = "whether to suspend or reactivate the account"
    status = HiddenField(validators=[AnyOf([Account.SUSPENDED, Account.ACTIVE])])

    @property
    def intended(self):
        return self.status.data


class EnrollmentForm(IntentForm):
    """Enroll in BYOL or switch to the provider's subscription; intended: True for BYOL."""

    BYOL, SUBSCRIPTION = "byol", "subscription"
    question = "whether to enroll the account in BYOL or switch it to provider subscription"
    enrollment = HiddenField(validators=[AnyOf([BYOL, SUBSCRIPTION])])

    @property
    def intended(self):
        return self.enrollment.data == self.BYOL


class AuthorizationForm(IntentForm):
    """Authorize a user or remove the authorization; intended: True to authorize."""

    AUTHORIZED, UNAUTHORIZED = "authorized", "unauthorized"
    question = "whether to authorize the user or remove the authorization"
    authorization = HiddenField(validators=[AnyOf([AUTHORIZED, UNAUTHORIZED])])

    @property
    def intended(self):
        return self.authorization.data == self.AUTHORIZED


class AccessForm(IntentForm):
    """Deactivate a user or reactivate them; intended: True to deactivate."""

    ACTIVE, DEACTIVATED = "active", "deactivated"
    question = "whether to deactivate or reactivate the user"
    access = HiddenField(validators=[AnyOf([ACTIVE, DEACTIVATED])])

    @property
    def intended(self):
        return self.access.data == self.DEACTIVATED


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


class AccountListForm(PlainTextForm):
    """The accounts list's search, filter, sort and page, read from the query string."""

    class Meta:
        csrf = False

    q = StringField("Account name", validators=[Length(max=200)])
    filter = ListedChoiceField(
        "Filter",
        not_listed="Choose what to show from the list.",
        choices=[SelectChoice("", "All accounts"), *(SelectChoice(k, v) for k, v in account_list.FILTERS.items())],
        default="",
    )
    sort = ListedChoiceField(
        "Sort by",
        not_listed="Choose a sort order from the list: name, earliest expiration or BYOL status.",
        choices=[SelectChoice(k, v) for k, v in account_list.SORTS.items()],
        default=account_list.NAME,
    )
    order = ListedChoiceField(
        "Order",
        not_listed="Choose ascending or descending from the list.",
        choices=[SelectChoice(k, v) for k, v in account_list.DIRECTIONS.items()],
        default=account_list.ASCENDING,
    )
    page = StringField("Page")

    def validate_page(self, field):
        # Digits first, and not too many of them: int() of 100k digits raises.
        if field.data and not (
            re.fullmatch(r"[0-9]{1,100}", field.data) and int(field.data) >= 1
        ):
            raise ValidationError("A page is a whole number from 1 up; the first page is shown.")

    @property
    def page_number(self):
        """The page asked for; 1 when none was or it was not a page number."""
        return int(self.page.data) if self.page.data and not self.page.errors else 1

    @property
    def list_errors(self):
        """The errors that leave nothing to list (search, filter, sort); a bad page number falls back to page 1."""
        return {name: errors for name, errors in self.errors.items() if name != "page"}


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


class AuditFilterForm(PlainTextForm):
    """The Audit log's filters, read from the query string; dates are UTC calendar days, both included."""

    class Meta:
        csrf = False

    account = StringField("Account", validators=[Length(max=200, message="Type at most 200 characters of the account name.")])
    actor = StringField("Actor", validators=[Length(max=254, message="Type at most 254 characters of the email or name.")])
    kind = SelectField(
        "Kind",
        choices=[SelectChoice("", "All kinds")] + [SelectChoice(kind, label) for kind, label in audit.KINDS.items()],
        default="",
        validate_choice=False,
    )
    since = StringField("From (UTC date)", validators=[Length(max=10, message=_DATE_HELP)])
    until = StringField("To (UTC date)", validators=[Length(max=10, message=_DATE_HELP)])
    before = StringField("Page", validators=[Length(max=10, message=_DAMAGED_PAGE)])

    def validate_kind(self, field):
        if field.data and field.data not in audit.KINDS:
            raise ValidationError("Choose a kind from the list.")

    def validate_since(self, field):
        field.day = _iso_day(field.data)

    def validate_until(self, field):
        field.day = _iso_day(field.data)
        since = getattr(self.since, "day", None)
        if since and field.day and field.day < since:
            raise ValidationError("The end date is before the start date. Give a To date on or after the From date.")

    def validate_before(self, field):
        field.cursor = parse_row_id(field.data) if field.data else None
        if field.data and field.cursor is None:
            raise ValidationError(_DAMAGED_PAGE)

    def filters(self):
        """The validated filters as audit_log.Filters."""
        return audit_log.Filters(
            account=(self.account.data or "").strip(), actor=(self.actor.data or "").strip(),
            kind=self.kind.data or "", since=getattr(self.since, "day", None), until=getattr(self.until, "day", None),
        )

    def query_args(self):
        """The filters as query-string arguments for links (the pager, the CSV), empty ones left out."""
        return {name: getattr(self, name).data for name in ("account", "actor", "kind", "since", "until")
                if getattr(self, name).data}


def _iso_day(text):
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValidationError(_DATE_HELP)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{text} is not a date in the calendar. {_DATE_HELP}") from None
