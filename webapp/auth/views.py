from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from .. import sessions
from ..extensions import login_manager
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


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        user = User.get_or_none(User.email == form.email.data.strip().lower())
        if user is None:
            check_password_hash(_UNKNOWN_USER_HASH, form.password.data)
        elif user.check_password(form.password.data):
            sessions.start_session(user, request.remote_addr, request.user_agent.string)
            login_user(user)
            return redirect(safe_next(form.next.data) or home_for(user))
        form.password.errors.append("The email or password is not right.")
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    sessions.end_session(current_user.get_session_id())
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
