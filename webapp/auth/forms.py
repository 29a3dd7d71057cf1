from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from ..forms import PlainTextForm, ReturnPathField


class LoginForm(PlainTextForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = ReturnPathField()
    submit = SubmitField("Log in")


class SecondFactorForm(PlainTextForm):
    code = StringField("Authentication code", validators=[DataRequired(), Length(max=64)])
    next = ReturnPathField()
    submit = SubmitField("Verify")


class EnrolmentForm(PlainTextForm):
    code = StringField("Authentication code", validators=[DataRequired(), Length(max=64)])
    next = ReturnPathField()
    submit = SubmitField("Confirm")
