from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from ..forms import PlainTextForm, ReturnPathField


class LoginForm(PlainTextForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = ReturnPathField()
    submit = SubmitField("Log in")
