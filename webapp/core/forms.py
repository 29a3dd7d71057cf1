"""The base of every form: no text field takes control, format or bidi-override characters."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import StopValidation, ValidationError

from .text import describe_character, hidden_character


class NoHiddenCharacters:
    """Refuse control, format and bidi-override characters (tab and line breaks only when `multiline`).

    It checks what the browser sent (`raw_data`), before any filter could tidy it away, and stops the
    field's other validators: their messages would be about a value the user cannot see.
    """

    def __init__(self, multiline=False):
        self.multiline = multiline

    def __call__(self, form, field):
        for value in field.raw_data or ():
            ch = hidden_character(value, self.multiline) if isinstance(value, str) else None
            if ch is not None and isinstance(field, HiddenField):
                raise StopValidation(
                    f"The form sent back a damaged value ({describe_character(ch)} in a field you do not see). "
                    "Reload the page and fill in the form again."
                )
            if ch is not None:
                raise StopValidation(
                    f"This field contains an invisible or control character ({describe_character(ch)}), "
                    "often brought along when text is pasted. Remove it, or type the text again."
                )


class ReturnPathField(HiddenField):
    """Where to go after the form (login's `next`): never stored, and a link may carry anything, so a
    value with hidden characters is dropped rather than refused; the user still gets in."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data and hidden_character(self.data) is not None:
            self.data = ""


class PlainTextForm(FlaskForm):
    """A FlaskForm whose every text field (StringField and its kinds: email, password, hidden, text
    area) refuses hidden characters first; a TextAreaField may hold tabs and line breaks. Only a
    ReturnPathField drops such a value instead."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            if isinstance(field, StringField) and not isinstance(field, ReturnPathField):
                check = NoHiddenCharacters(multiline=isinstance(field, TextAreaField))
                field.validators = [check, *field.validators]
            return field


class ListedChoiceField(SelectField):
    """A drop-down that refuses a value not in its list with a message saying what to do."""

    def __init__(self, *args, not_listed, **kwargs):
        super().__init__(*args, **kwargs)
        self.not_listed = not_listed

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError(self.not_listed) from None
