"""What staff are asked before a destructive change, in one place for the dialog (hx-confirm) and
for the confirmation page that a browser without JavaScript gets (a GET of the change's own URL)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Confirmation:
    """The question, what the change does, and the label of the button that makes it."""

    question: str
    detail: str
    button: str

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
        )
    return Confirmation(f"Authorize {user.email}?", "They can open the Onboarding Portal of their account.", "Authorize")


def access(user, deactivate):
    if deactivate:
        return Confirmation(
            f"Deactivate {user.email}?",
            "They are signed out at once and can no longer sign in; their unused invitation or reset "
            "link stops working. Their name stays in the history.",
            "Deactivate",
        )
    return Confirmation(f"Reactivate {user.email}?", "They can sign in again.", "Reactivate")
