import threading
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from .. import audit
from ..accounts.models import User
from ..core import clock, limiter, mail
from ..core.filters import duration
from ..core.hypermedia import redirect_to, render
from ..core.secret_tokens import new_token
from ..extensions import db, login_manager
from ..identity import links as tokens
from ..identity import passwords, sessions, two_factor
from ..identity import throttle as login_throttle
from ..identity.models import AccessToken
from .forms import (
    ChangePasswordForm,
    EnrolmentForm,
    ForgotPasswordForm,
    LoginForm,
    SecondFactorForm,
    SetPasswordForm,
)

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to open the Onboarding Portal."
login_manager.login_message_category = "info"
# The cookie carries the session's random id (User.get_session_id), not the user id.
login_manager.id_attribute = "get_session_id"

@bp.record_once
def _hash_for_unknown_users(state):
    """Made at start-up, as before, so no login pays for it."""
    passwords.unknown_user_hash(state.app.config["PASSWORD_HASH_METHOD"])


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
    return redirect_to(target, unauthorized=True)


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


def owed_step(user):
    """What the signed-in user must still do before staff pages (see two_factor.owed_step)."""
    return two_factor.owed_step(user, current_app.config["ADMIN_2FA_REQUIRED"])


def second_factor_url(user, target=None):
    """Where an admin who still owes the second factor goes first, or None when nothing is owed."""
    owed = owed_step(user)
    if owed == two_factor.NEEDS_CODE:
        return url_for("auth.second_factor", next=target)
    if owed == two_factor.NEEDS_ENROLMENT:
        return url_for("auth.two_factor_setup", next=target)
    return None


@bp.app_context_processor
def second_factor_owed():
    """Pages hide the staff menu from a sign-in that still owes the second factor."""
    if not has_request_context():  # an email rendered by cron has no signed-in user
        return {}
    return {"owes_second_factor": current_user.is_authenticated and owed_step(current_user) is not None}


def _login_form(form, status):
    """The login page, or only its form for an htmx post, with the form's messages."""
    return render("auth/login.html", "auth/_login_form.html", status=status, form=form)


def _record_failed_sign_in(email, user, step):
    """A failed sign-in: a known user's belongs to their account; an unknown email's to none, its text cleaned."""
    subject = user.email if user is not None else f"unknown email: {audit.outside_text(email)}"
    audit.record("signin.failed", account=user.account_id if user is not None else None, subject=subject,
                 after={"step": step})


def _record_throttled(email, user, wait, step):
    """The first try refused in a window (not each one): staff-internal, with the client address."""
    if user is None:
        user = User.get_or_none(User.email == (email or "").strip().lower())
    subject = user.email if user is not None else f"unknown email: {audit.outside_text(email)}"
    audit.record(
        "signin.throttled", account=user.account_id if user is not None else None, subject=subject,
        after={"step": step, "address": audit.outside_text(request.remote_addr),
               "paused_minutes": limiter.minutes(wait)},
        internal=True,
    )


def _throttled(form, wait):
    """429 before any password hash: the same answer whether or not the email has an account.

    It shows the message without the form: a cheap page, since an attack gets it many times a second.
    """
    response = render(
        "auth/login.html",
        "auth/_paused.html",
        status=429,
        next=safe_next(form.next.data),
        refusal="Too many failed logins. Logging in is paused for this email or from your network: "
        f"{limiter.try_again_in(wait)}.",
    )
    response.headers["Retry-After"] = limiter.retry_after(wait)
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
    wait, reservation, first_refusal = login_throttle.admit_sign_in(attempt, limits)
    if wait is not None:
        if first_refusal:
            _record_throttled(form.email.data, None, wait, "password")
        return _throttled(form, wait)
    user = User.get_or_none(User.email == form.email.data.strip().lower())
    right_password = user is not None and user.check_password(form.password.data)
    if user is None:
        passwords.check_for_unknown_user(form.password.data)
    elif right_password and user.is_deactivated:
        _record_failed_sign_in(form.email.data, user, "access ended by staff")
        # Only after the right password, so the answer tells nothing to someone guessing.
        form.password.errors.append(
            f"Your access to the portal was ended by {current_app.config['PROVIDER_NAME']}. "
            f"If you need it again, ask an authorized user of your company or write to {current_app.config['SUPPORT_EMAIL']}."
        )
        return _login_form(form, 403)
    elif right_password:
        login_throttle.give_back(reservation)
        sessions.start_session(user, request.remote_addr, request.user_agent.string)
        login_user(user)
        target = safe_next(form.next.data) or home_for(user)
        return redirect_to(second_factor_url(user, safe_next(form.next.data)) or target)
    _record_failed_sign_in(form.email.data, user, "password")
    form.password.errors.append("The email or password is not right.")
    return _login_form(form, 401)


def _code_paused(form, wait):
    """429 for too many wrong codes, before any code is checked."""
    page = render_template(
        "auth/second_factor.html",
        form=form,
        refusal="Too many wrong codes. Signing in is paused for this account or from your network: "
        f"{limiter.try_again_in(wait)}.",
    )
    return page, 429, {"Retry-After": limiter.retry_after(wait)}


@bp.route("/login/code", methods=["GET", "POST"])
@login_required
def second_factor():
    """After the password, an admin with an authenticator enters its code (or a recovery code)."""
    if owed_step(current_user) != two_factor.NEEDS_CODE:
        return redirect(home_for(current_user))
    form = SecondFactorForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/second_factor.html", form=form), status
    limits = login_throttle.Limits.from_config(current_app.config)
    attempt = login_throttle.Attempt.of_second_factor(current_user.id, request.remote_addr, limits)
    wait, reservation, first_refusal = login_throttle.admit_sign_in(attempt, limits)
    if wait is not None:
        if first_refusal:
            _record_throttled(current_user.email, current_user, wait, "authentication code")
        return _code_paused(form, wait)
    passed_with = two_factor.check_code(current_user.id, form.code.data)
    if passed_with is None:
        _record_failed_sign_in(current_user.email, current_user, "authentication code")
        form.code.errors.append(
            "That code is not right, or it was used already. Enter the code your authenticator app "
            "shows now, or one of your recovery codes."
        )
        return render_template("auth/second_factor.html", form=form), 401
    login_throttle.give_back(reservation)
    user = current_user._get_current_object()
    sessions.pass_second_factor(user)
    login_user(user)  # the cookie now names the renewed sign-in
    if passed_with == "recovery":
        left = two_factor.recovery_codes_left(current_user.id)
        flash(f"You signed in with a recovery code; {left} of them {'is' if left == 1 else 'are'} left. "
              "Each works once.", "info")
    return redirect(safe_next(form.next.data) or home_for(current_user))


@bp.route("/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """An admin enrols an authenticator app: scan the QR code (or type the secret), confirm with a code."""
    if not current_user.is_admin:
        abort(403)
    owed = owed_step(current_user)
    if owed == two_factor.NEEDS_CODE:
        # Re-enrolling must not be a way around the code: the code comes first.
        return redirect(url_for(".second_factor"))
    if current_user.totp_secret:
        return render_template(
            "auth/two_factor_enrolled.html", left=two_factor.recovery_codes_left(current_user.id)
        )
    token = current_user.get_session_id()
    secret = current_user.pending_totp_secret
    if not secret:
        secret = two_factor.new_secret()
        sessions.hold_pending_secret(token, secret)
    form = EnrolmentForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        try:
            codes = two_factor.enrol(current_user.id, secret, form.code.data)
        except two_factor.AlreadyEnrolled:
            return redirect(url_for(".two_factor_setup"))
        if codes:
            user = current_user._get_current_object()
            sessions.pass_second_factor(user)
            login_user(user)  # the cookie now names the renewed sign-in
            return render_template(
                "auth/recovery_codes.html", codes=codes, next=safe_next(form.next.data) or home_for(current_user)
            )
        form.code.errors.append(
            "That code is not right. Enter the six digits your authenticator app shows now for this portal."
        )
        status = 422
    elif request.method == "POST":
        status = 422
    uri = two_factor.provisioning_uri(secret, current_user.email, current_app.config["PROVIDER_NAME"])
    return render_template(
        "auth/two_factor_setup.html",
        form=form,
        qr_svg=two_factor.qr_svg(uri),
        secret=two_factor.grouped(secret),
        required=owed == two_factor.NEEDS_ENROLMENT,
    ), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    sessions.end_session(current_user.get_session_id())
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/two-factor/recovery-codes", methods=["POST"])
@login_required
def new_recovery_codes():
    """An admin who signed in with the second factor replaces their recovery codes; the new ones are shown once."""
    if not current_user.is_admin:
        abort(403)
    if owed_step(current_user) == two_factor.NEEDS_CODE:
        return redirect(url_for(".second_factor"))
    if not current_user.totp_secret:
        return redirect(url_for(".two_factor_setup"))
    codes = two_factor.replace_recovery_codes(current_user.id)
    return render_template(
        "auth/recovery_codes.html", codes=codes, next=url_for(".two_factor_setup"), replaced=True
    )


# --- password reset, Set password, Change password -------------------------------------------


def _send_in_background(message):
    """Send after the answer has gone, so the answer takes as long whether or not a message was made."""
    app = current_app._get_current_object()

    def send():
        with app.app_context():
            try:
                mail.send_many([message])
            except Exception:  # noqa: BLE001 - a lost reset email is logged; the user can ask again
                app.logger.exception("The password reset email could not be sent")

    thread = threading.Thread(target=send, name="reset-email", daemon=True)
    thread.start()
    return thread


def _reset_email(email, name, token):
    return mail.build_email(
        "password_reset", email, "Set a new password for the Onboarding Portal",
        name=name, email=email, link=mail.portal_url("auth.set_password", token=token),
        valid_for=duration(current_app.config["PASSWORD_RESET_VALID_FOR"]),
    )


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Forgot password? The same answer, after the same work, whether or not the email has an account."""
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render("auth/forgot_password.html", "auth/_forgot_form.html",
                      status=422 if request.method == "POST" else 200, form=form, sent=False)
    email = form.email.data.strip().lower()
    limits = login_throttle.Limits.of_reset_requests(current_app.config)
    attempt = login_throttle.Attempt.of(email, request.remote_addr, limits, scope="reset:")
    wait, _ = login_throttle.admit(attempt, limits)
    if wait is not None:
        response = render("auth/forgot_password.html", "auth/_forgot_form.html", status=429, form=form, sent=False,
                          refusal="Too many reset links were asked for this email or from your network: "
                                  f"{limiter.try_again_in(wait)}.")
        response.headers["Retry-After"] = limiter.retry_after(wait)
        return response
    # Both branches make a token, write one row and render the email; only a real user's is sent.
    token = new_token()
    user = User.get_or_none((User.email == email) & User.deactivated_at.is_null())
    with db.database.atomic():
        if user is not None:
            tokens.issue(user.id, AccessToken.RESET, current_app.config["PASSWORD_RESET_VALID_FOR"], clock.now(), token)
        else:
            tokens.issue_for_nobody(token, current_app.config["PASSWORD_RESET_VALID_FOR"], clock.now())
    message = _reset_email(email, user.name if user else "", token)
    # The page is rendered before the sending thread starts, so that thread does not slow the answer down.
    response = render("auth/forgot_password.html", "auth/_forgot_form.html", form=form, sent=True, email=email)
    if user is not None:
        _send_in_background(message)
    return response


# The Set password link's token, once opened, is kept here (the signed session cookie) and the browser
# goes on to a URL without it, as Django's PasswordResetConfirmView does: the token then appears in
# one access-log line only, never in a Referer header, nor in the address the page's assets see.
LINK_TOKEN = "set_password_token"


def _no_referrer(response):
    """Pages reached from a Set password link send no Referer anywhere, not even to this portal."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _link_refused(refusal):
    """The page for a link that cannot be used, saying what to do instead."""
    page = render_template("auth/link_refused.html", refusal=refusal)
    return _no_referrer(make_response(page, 410 if refusal != tokens.UNKNOWN else 404))


@bp.route("/password/set/<token>", methods=["GET", "POST"])
def set_password(token):
    """A reset or invitation link: a usable token goes into the session, and the browser on to the form."""
    found = tokens.find(token, clock.now())
    if found.refusal:
        return _link_refused(found.refusal)
    session[LINK_TOKEN] = token
    return _no_referrer(redirect(url_for("auth.set_password_form")))


@bp.route("/password/set", methods=["GET", "POST"])
def set_password_form():
    """Set password, for the link this browser opened: once, before it expires."""
    token = session.get(LINK_TOKEN)
    found = tokens.find(token, clock.now())
    if found.refusal:
        return _link_refused(found.refusal)
    user = found.row.user
    form = SetPasswordForm(email_of_user=user.email)
    if not form.validate_on_submit():
        return _no_referrer(render("auth/set_password.html", "auth/_set_password_form.html",
                                   status=422 if request.method == "POST" else 200, form=form, user=user,
                                   invitation=found.row.purpose == AccessToken.INVITE))
    with db.database.atomic():
        if not tokens.use(token, clock.now()):
            # Used by another click, or expired, between the page and this post.
            return _link_refused(tokens.find(token, clock.now()).refusal or tokens.USED)
        # Ends every session of the user, and every other link sent before, which is now stale.
        sessions.change_password(user, form.new_password.data, clock.now())
        link = "invitation link" if found.row.purpose == AccessToken.INVITE else "password reset link"
        # Whoever holds the link acts as the user it was sent to.
        audit.record("user.password_changed", account=user.account_id, subject=user.email,
                     after={"password": f"set from a {link}"}, actor=user)
    session.pop(LINK_TOKEN, None)
    if current_user.is_authenticated:
        logout_user()
    sessions.start_session(user, request.remote_addr, request.user_agent.string)
    login_user(user)
    flash("Your password is set. You are signed in.", "success")
    return _no_referrer(redirect_to(home_for(user)))


@bp.route("/password/change", methods=["GET", "POST"])
@login_required
def change_password():
    """Change password: the current one, the new one twice; other sessions end, this one stays."""
    user = current_user._get_current_object()
    first = second_factor_url(user, url_for("auth.change_password"))
    if first:  # a password alone must not be enough to change it for a staff sign-in
        return redirect(first)
    form = ChangePasswordForm(email_of_user=user.email)
    if not form.validate_on_submit():
        return render("auth/change_password.html", "auth/_change_password_form.html",
                      status=422 if request.method == "POST" else 200, form=form)
    limits = login_throttle.Limits.from_config(current_app.config)
    attempt = login_throttle.Attempt.of(user.email, request.remote_addr, limits)
    wait, reservation, first_refusal = login_throttle.admit_sign_in(attempt, limits)
    if wait is not None:
        if first_refusal:
            _record_throttled(user.email, user, wait, "current password on Change password")
        form.current_password.errors.append(f"Too many wrong passwords: {limiter.try_again_in(wait)}.")
        return render("auth/change_password.html", "auth/_change_password_form.html", status=429, form=form)
    if not user.check_password(form.current_password.data):
        _record_failed_sign_in(user.email, user, "current password on Change password")
        form.current_password.errors.append("This is not your current password.")
        return render("auth/change_password.html", "auth/_change_password_form.html", status=422, form=form)
    login_throttle.give_back(reservation)
    passed_second_factor = getattr(user, "second_factor_at", None) is not None
    with db.database.atomic():
        # Every session of the user ends, this one included: a new one follows.
        sessions.change_password(user, form.new_password.data)
        audit.record("user.password_changed", account=user.account_id, subject=user.email,
                     after={"password": "changed on Change password"})
    sessions.start_session(user, request.remote_addr, request.user_agent.string)
    if passed_second_factor:  # this browser gave its code already; the new session carries that on
        sessions.pass_second_factor(user)
        user.second_factor_at = clock.now()
    login_user(user)
    flash("Your password is changed. You were signed out everywhere else.", "success")
    return redirect_to(home_for(user) if user.is_admin or user.may_use_portal else url_for("auth.change_password"))
