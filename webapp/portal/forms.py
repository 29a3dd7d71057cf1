import re

from email_validator import EmailNotValidError, validate_email
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    EmailField,
    IntegerField,
    SelectChoice,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from ..core.forms import ListedChoiceField, PlainTextForm
from ..core.row_ids import RowIdField
from ..licenses.plans import plan_field
from ..licenses.rules import is_expired, years_ahead

TENANT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.onmicrosoft\.com$")
YEARLY, MONTHLY = "Yearly", "Monthly"


class _ParsedField:
    """A field whose unparseable input gets one clear message, not the parser's plus the validators'."""

    parse_error = "Enter a valid value."

    def process_formdata(self, valuelist):
        if valuelist and not valuelist[0].strip():
            # A browser sends an empty field as "": that is a missing value, for the required message.
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(self.parse_error) from None

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()


class WholeNumberField(_ParsedField, IntegerField):
    parse_error = "Enter a whole number from 1 to 1,000,000."

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip() and not valuelist[0].strip().isdigit():
            self.data = None
            raise ValueError(self.parse_error)
        super().process_formdata(valuelist)


class CalendarDateField(_ParsedField, DateField):
    """A date from a date picker (which always sends YYYY-MM-DD, whatever format it shows) or typed.

    Where a browser has no picker the field is plain text, so a date written out ("31 March 2027")
    is read too, and the messages give that form, never a pattern the picker does not show.
    Numeric day/month orders (03/04/2027) are ambiguous and refused.
    """

    parse_error = "Enter a real calendar date, for example 31 March 2027."

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y"])
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        # "31 March, 2027" and "March 31, 2027" read like the dates people write.
        super().process_formdata([" ".join(v.replace(",", " ").split()) for v in valuelist])

    def _value(self):
        # A date the form read is given back as the picker's value, which is always YYYY-MM-DD.
        if self.data is not None:
            return self.data.isoformat()
        return super()._value()


class LicenseTermsForm(PlainTextForm):
    """What every submission of a license carries: the terms read off Office 365, and the proof."""

    seats = WholeNumberField(
        "Number of licenses",
        validators=[
            InputRequired("Enter the number of licenses."),
            NumberRange(min=1, max=1_000_000, message="Enter a whole number from 1 to 1,000,000."),
        ],
    )
    term = ListedChoiceField(
        "Subscription term",
        not_listed="Choose Yearly or Monthly from the list.",
        choices=[SelectChoice("", "Choose…"), SelectChoice(YEARLY), SelectChoice(MONTHLY)],
        validators=[DataRequired("Choose the subscription term.")],
    )
    expires_on = CalendarDateField(
        "Expiration date",
        validators=[DataRequired("Enter the expiration date shown in Office 365.")],
    )
    tenant = StringField(
        "Microsoft 365 tenant",
        validators=[DataRequired("Enter your tenant's onmicrosoft.com domain."), Length(max=253)],
        filters=[lambda v: v.strip().lower() if v else v],
    )
    contact_name = StringField(
        "Contact name",
        validators=[DataRequired("Enter the name of the person to remind."), Length(max=200)],
        filters=[lambda v: " ".join(v.split()) if v else v],
    )
    contact_email = EmailField(
        "Contact email",
        validators=[
            DataRequired("Enter the email address the reminder goes to."),
            Length(max=254),
        ],
        filters=[lambda v: v.strip() if v else v],
    )
    proof = FileField("Proof of licensing")
    kept_proof = RowIdField()
    submit = SubmitField("Save")
    # Shown only once the document was found to say otherwise than the form (docs/domain.md, "Trust in proof").
    staff_note = TextAreaField(
        "Note to staff",
        validators=[Optional(), Length(max=2000, message="Keep the note to 2,000 characters.")],
        filters=[lambda v: v.strip() if v else v],
    )
    save_anyway = SubmitField("Save anyway with this note")

    NOTE_REQUIRED = ("Write a note to staff saying why the document differs from what you entered "
                     "(for example: the plan was upgraded after this screenshot).")

    def __init__(self, *args, today, provider_name, max_years_ahead, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.provider_name = provider_name
        self.max_years_ahead = max_years_ahead
        self.latest_expiry = years_ahead(today, max_years_ahead)

    def validate_term(self, field):
        if field.data == MONTHLY:
            raise ValidationError(
                "Only yearly Office 365 plans can be used for BYOL. Either switch this plan to a yearly "
                "subscription in Office 365 and submit its proof, or use "
                f"{self.provider_name}'s subscription-based Office products instead."
            )

    def validate_expires_on(self, field):
        if field.data and is_expired(field.data, self.today):
            raise ValidationError(
                f"This date has passed (today is {self.today:%d %b %Y}). Enter the current expiration "
                "date from Office 365; if the subscription has lapsed, renew it there first."
            )
        if field.data and field.data > self.latest_expiry:
            raise ValidationError(
                f"This date is more than {self.max_years_ahead} years ahead; the latest accepted is "
                f"{self.latest_expiry.day} {self.latest_expiry:%b %Y}. Check the expiration (renewal) date "
                "shown in Office 365."
            )

    def validate_contact_email(self, field):
        # No SMTPUTF8: an internationalized domain is fine (it is sent IDNA-encoded), letters beyond
        # ASCII before the @ are refused here rather than failing at every reminder.
        try:
            validate_email(field.data, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError:
            local_part = field.data.rpartition("@")[0]
            if local_part and not local_part.isascii():
                raise ValidationError(
                    "Reminders cannot be sent to an address with letters like ü or é before the @: most mail "
                    "servers refuse them. Enter an address made of plain letters, digits and . _ - + before "
                    "the @ (the part after it may have any letters)."
                ) from None
            raise ValidationError("Enter a valid email address, like name@example.com.") from None

    def validate_tenant(self, field):
        if field.data and not TENANT.match(field.data):
            raise ValidationError(
                "Enter the tenant's domain ending in .onmicrosoft.com, for example contoso.onmicrosoft.com."
            )

    def terms(self):
        """The submitted terms, as LicenseVersion columns."""
        return {
            "seats": self.seats.data,
            "term": self.term.data,
            "expires_on": self.expires_on.data,
            "tenant": self.tenant.data,
            "contact_name": self.contact_name.data,
            "contact_email": self.contact_email.data,
        }


class LicenseForm(LicenseTermsForm):
    """A new license: which product and plan it is, then its terms."""

    product = ListedChoiceField(
        "Product",
        coerce=str,
        validators=[DataRequired("Choose the product.")],
        not_listed="Choose a product from the list.",
    )
    plan = plan_field()
