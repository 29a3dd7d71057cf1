"""What staff are asked before a destructive change, in one place for the dialog (hx-confirm) and
for the confirmation page that a browser without JavaScript gets (a GET of the change's own URL),
and the one helper that answers both methods of such a URL (confirm_then_post)."""
from dataclasses import dataclass

from flask import render_template, request, url_for

from ..core.errors import render_error


@dataclass(frozen=True)
class Confirmation:
    """The question, what the change does, and the label of the button that makes it."""

    question: str
    detail: str
    button: str
    # Takes something away (access, BYOL billing): its button is red, GOV.UK's warning button.
    destructive: bool = False

    @property
    def dialog(self):
        """The text of the browser's confirm dialog."""
        return f"{self.question} {self.detail}"


def account_status(account, status):
    if status == "suspended":
        return Confirmation(
            f"Suspend {account.name}?",
            "Its users are signed out at once and cannot open the Onboarding Portal until it is "
            "reactivated. Its billing does not change.",
            "Suspend account",
            destructive=True,
        )
    return Confirmation(
        f"Reactivate {account.name}?", "Its authorized users can open the Onboarding Portal again.",
        "Reactivate account",
    )


def enrollment(account, to_byol):
    if not to_byol:
        return Confirmation(
            f"Switch {account.name} to provider subscription?",
            "From its next billing cycle its users are billed per user per month, whatever its licenses "
            "say, until it is enrolled in BYOL again.",
            "Switch to provider subscription",
            destructive=True,
        )
    return Confirmation(
        f"Enroll {account.name} in BYOL?",
        "From its next billing cycle it is billed BYOL while every license is current.",
        "Enroll in BYOL",
    )


def authorization(user, authorized):
    if not authorized:
        return Confirmation(
            f"Remove the authorization of {user.email}?",
            "They are signed out at once and cannot open the Onboarding Portal until they are authorized again.",
            "Remove authorization",
            destructive=True,
        )
    return Confirmation(f"Authorize {user.email}?", "They can open the Onboarding Portal of their account.", "Authorize")


def access(user, deactivate):
    if deactivate:
        return Confirmation(
            f"Deactivate {user.email}?",
            "They are signed out at once and can no longer sign in; their unused invitation or reset "
            "link stops working. Their name stays in the history.",
            "Deactivate",
            destructive=True,
        )
    return Confirmation(f"Reactivate {user.email}?", "They can sign in again.", "Reactivate")


def confirm_then_post(form_class, account_id, ask, apply):
    """One URL, both methods of a change: GET asks `ask(intended)` on a page, POST does `apply(intended)`.

    Without JavaScript a destructive button is a GET of its change's own URL (admin/_confirm_button.html),
    whose page posts the same intent (a `form_class`, see admin.forms.IntentForm) to the same URL;
    with htmx the browser asks with the same Confirmation (hx-confirm) and posts at once. The POST
    stays safe to call directly, and a request that does not name the state it wants changes nothing.

    It lives in admin, not core, because only staff changes post an intended state (two-way
    switches named by their button); the portal's Remove license goes one way, its URL is the whole
    intent, so its page and its POST are a plain branch on the method, with nothing to share.
    """
    if request.method == "GET":
        # From the query string, without CSRF: showing the question changes nothing.
        form = form_class(request.args, meta={"csrf": False})
        if not form.validate():
            return intent_missing(form.question)
        return render_template(
            "admin/confirm.html", confirmation=ask(form.intended),
            action=url_for(request.endpoint, **request.view_args), field=form.field.name, value=form.field.data,
            back_url=url_for("admin.account", account_id=account_id),
        )
    form = form_class()
    if not form.validate_on_submit():
        return intent_missing(form.question)
    return apply(form.intended)


def intent_missing(question):
    """422 for a form that does not name the state it wants: guessing would be toggling again."""
    return render_error(
        422,
        title="Nothing was changed",
        detail=f"The form did not say {question}. Reload the account page and use its buttons.",
    )
