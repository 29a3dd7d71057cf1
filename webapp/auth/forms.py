from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from ..core.forms import PlainTextForm, ReturnPathField
from ..identity.passwords import MAX_LENGTH, password_problem


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


class ForgotPasswordForm(PlainTextForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Send reset link")


class MeetsPasswordRules:
    """The password rules (webapp.identity.passwords), with the form's `email` for the not-your-email rule."""

    def __call__(self, form, field):
        problem = password_problem(field.data or "", getattr(form, "email_of_user", ""))
        if problem:
            raise ValidationError(problem)


class SetPasswordForm(PlainTextForm):
    new_password = PasswordField("New password", validators=[
        DataRequired("Enter a new password."), Length(max=MAX_LENGTH * 4), MeetsPasswordRules(),
    ])
    confirm_password = PasswordField("Confirm new password", validators=[
        DataRequired("Enter the new password again."),
        EqualTo("new_password", "The two passwords are not the same. Type them again."),
    ])
    submit = SubmitField("Set password")

    def __init__(self, *args, email_of_user="", **kwargs):
        super().__init__(*args, **kwargs)
        self.email_of_user = email_of_user


class ChangePasswordForm(SetPasswordForm):
    current_password = PasswordField("Current password", validators=[
        DataRequired("Enter your current password."), Length(max=1024),
    ])
    submit = SubmitField("Change password")
