from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from .. import login_throttle, sessions
from ..extensions import login_manager
from ..hypermedia import render, wants_fragment
from ..models import User
from .forms import LoginForm

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to open the Onboarding Portal."
login_manager.login_message_category = "info"
# The cookie carries the session's random id (User.get_session_id), not the user id.
login_manager.id_attribute = "get_session_id"

# Checked against when the email is unknown, so both failures take the same time.
_UNKNOWN_USER_HASH = generate_password_hash("not-a-real-password")


@login_manager.user_loader
def load_user(session_id):
    """The user and account of a live session, reloaded on every request, so a suspension applies at once."""
    config = current_app.config
    return sessions.load_session_user(session_id, config["SESSION_IDLE_TIMEOUT"], config["SESSION_LIFETIME"])


@login_manager.unauthorized_handler
def send_to_login():
    """Anonymous visitors go to the login page and come back afterwards; htmx follows via HX-Redirect."""
    came_from = request.htmx.current_url if request.htmx else request.full_path.rstrip("?")
    if request.method != "GET" and not request.htmx:
        came_from = None
    if came_from:
        parts = urlsplit(came_from)
        came_from = safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    target = url_for("auth.login", next=came_from)
    flash(login_manager.login_message, "info")
    if request.htmx:
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def safe_next(target):
    """Return `target` if it is a path on this site, else None (no open redirects)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user):
    """Where a user lands after logging in."""
    return url_for("admin.index") if user.is_admin else url_for("portal.licenses")


def _login_form(form, status):
    """The login page, or only its form for an htmx post, with the form's messages."""
    return render("auth/login.html", "auth/_login_form.html", status=status, form=form)


def _throttled(form, wait):
    """429 before any password hash: the same answer whether or not the email has an account.

    It shows the message without the form: a cheap page, since an attack gets it many times a second.
    """
    minutes = login_throttle.minutes(wait)
    response = render(
        "auth/login.html",
        "auth/_paused.html",
        status=429,
        next=safe_next(form.next.data),
        refusal=f"Too many failed logins. Logging in is paused for this email or from your network: "
        f"try again in {minutes} minute{'' if minutes == 1 else 's'}.",
    )
    response.headers["Retry-After"] = str(max(1, int(wait.total_seconds()) + 1))
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return _login_form(form, 422 if request.method == "POST" else 200)
    limits = login_throttle.Limits.from_config(current_app.config)
    attempt = login_throttle.Attempt.of(form.email.data, request.remote_addr, limits)
    # A read first, so a try past the limit costs neither a hash nor a write.
    wait = login_throttle.refused_for(attempt, limits)
    if wait is None:
        wait, reservation = login_throttle.reserve(attempt, limits)
    if wait is not None:
        return _throttled(form, wait)
    user = User.get_or_none(User.email == form.email.data.strip().lower())
    if user is None:
        check_password_hash(_UNKNOWN_USER_HASH, form.password.data)
    elif user.check_password(form.password.data):
        login_throttle.give_back(reservation)
        sessions.start_session(user, request.remote_addr, request.user_agent.string)
        login_user(user)
        target = safe_next(form.next.data) or home_for(user)
        if wants_fragment():
            response = make_response("", 200)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    form.password.errors.append("The email or password is not right.")
    return _login_form(form, 401)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    sessions.end_session(current_user.get_session_id())
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
