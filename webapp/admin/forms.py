from wtforms import HiddenField, RadioField, SelectChoice, StringField
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from ..forms import PlainTextForm
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


class AccountSearchForm(PlainTextForm):
    class Meta:
        csrf = False

    q = StringField("Account name", validators=[Length(max=200)])
