"""One plan, however it is typed: the key under which two plan names are the same plan, and the plan
name field that the customer's Add License form and staff's rename both check."""
import unicodedata

from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from .models import License


def plan_key(plan):
    """The plan name as compared for uniqueness within an account and product.

    NFKC folds compatibility forms (full-width letters, ligatures, no-break and ideographic spaces)
    into their plain letters; case folding ignores case; control and format characters (zero-width
    space, soft hyphen, bidi overrides) are removed; runs of whitespace become one space. The
    casefold/normalise sequence is Unicode's caseless identifier match (D147), so the key is stable:
    plan_key(plan_key(x)) == plan_key(x). Letters of other scripts that only look alike (Cyrillic
    'о', Latin 'o') stay different: see the README.
    """
    text = "".join(
        " " if ch.isspace() else ch
        for ch in plan
        if unicodedata.category(ch) not in {"Cc", "Cf"} or ch.isspace()
    )
    text = unicodedata.normalize("NFD", text).casefold()
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", text).casefold())
    # NFKC can bring format characters back from compatibility forms; remove those too.
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


class PlanName:
    """A plan name gives a plan key (webapp.licenses.plans.plan_key) the database can hold: not empty, not too long."""

    def __call__(self, form, field):
        key = plan_key(field.data or "")
        if not key:
            raise ValidationError("Enter the plan name as Office 365 shows it.")
        if len(key) > License.plan_key.max_length:
            raise ValidationError(
                "This plan name is too long once its special characters (ligatures, symbols) are spelled "
                "out. Enter the plan name as Office 365 shows it, in plain letters."
            )


def plan_field(label="Plan"):
    """The plan (package) name, as the customer's Add License form and staff's rename both check it."""
    return StringField(
        label,
        validators=[
            DataRequired("Enter the plan name as Office 365 shows it."),
            Length(max=License.plan.max_length),
            PlanName(),
        ],
    )
