from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Length, ValidationError


class ReviewForm(FlaskForm):
    decision = RadioField(
        "Decision",
        choices=[SelectChoice("accepted", "Accept"), SelectChoice("rejected", "Reject")],
        validators=[DataRequired("Choose accept or reject.")],
    )
    reason = StringField("Reason shown to the customer", validators=[Length(max=500)])

    def validate_reason(self, field):
        if self.decision.data == "rejected" and not (field.data or "").strip():
            raise ValidationError("Say why the proof is rejected; the customer sees this reason.")


class ConfirmForm(FlaskForm):
    """A bare form for the toggle buttons: nothing but the CSRF token."""


class AccountSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Account name", validators=[Length(max=200)])
