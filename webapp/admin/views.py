from functools import partial

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from peewee import IntegrityError

from .. import reminders
from ..accounts import invitations
from ..accounts import listing as account_list
from ..accounts import store as account_store
from ..accounts.models import Account, User
from ..audit import log as audit_log
from ..auth.views import second_factor_url
from ..billing import report as billing_report
from ..billing.rules import format_cycle, next_cycle, parse_cycle
from ..core import clock
from ..core.errors import render_error
from ..core.filters import duration
from ..core.hypermedia import redirect_to, render, wants_fragment
from ..extensions import login_manager
from ..licenses import store as license_store
from ..licenses import timeline as expiry_timeline
from ..licenses.document_text import Limits
from ..licenses.models import License, LicenseVersion, ProofDocument
from ..licenses.proofs import preview_of, send_preview, send_proof
from ..microsoft365 import store as microsoft365
from ..review import notice as review_notice
from ..review import store as review_store
from . import confirmations
from .forms import (
    AccessForm,
    AccountListForm,
    AccountStatusForm,
    AuditFilterForm,
    AuthorizationForm,
    BillingFilterForm,
    EnrollmentForm,
    InviteForm,
    RemovalForm,
    RenameForm,
    ReviewForm,
)

bp = Blueprint("admin", __name__)
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")
PAGE_SIZE = 50
MAX_PAGE = 100_000


@bp.before_request
def require_admin():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    # A password alone reaches no staff page: the authenticator's code first, or enrolling one.
    first = second_factor_url(current_user, request.full_path.rstrip("?") if request.method == "GET" else None)
    if first:
        return redirect_to(first, unauthorized=True)


@bp.app_context_processor
def staff_navigation():
    """The count on the Proof to review tab: one COUNT per staff page, none where the page has it already."""
    return {"proofs_waiting": _awaiting}


def _awaiting():
    """(count, oldest submission) of the proofs awaiting review, read once per request."""
    if "proofs_waiting" not in g:
        g.proofs_waiting = review_store.awaiting_summary()
    return g.proofs_waiting


def found(row):
    """The row, or a 404 when the lookup found nothing."""
    if row is None:
        abort(404)
    return row


def _standing(account, licenses, today):
    """(rows, BYOL status) of one account, or rows of unknown status and None when its data cannot be read.

    One account's bad row (a billing day outside 1..31, a date the driver could not parse) must not take
    down a page listing many accounts, nor its own page, from which staff still suspend or enroll it.
    """
    try:
        return license_store.account_standing(
            account, licenses, today, timezone_name=current_app.config["BUSINESS_TIMEZONE"],
            must_be_accepted=current_app.config["PROOF_MUST_BE_ACCEPTED"],
        )
    except Exception:
        current_app.logger.exception("The BYOL standing of account %s could not be computed", account.id)
        return [(license, None) for license in licenses], None


def _roll_up(account, licenses, today):
    """(BYOL status, earliest expiration) of a listed account from its AccountLicenses; (None, None), shown
    as unknown, when its data cannot be read, as in _standing()."""
    try:
        byol = license_store.listed_standing(licenses, today, account.billing_day, account.byol_enrolled)
        return byol, licenses.earliest
    except Exception:
        current_app.logger.exception("The BYOL standing of account %s could not be computed", account.id)
        return None, None


def _account_or_404(account_id):
    return found(Account.get_or_none(Account.id == account_id))


@bp.route("/")
def index():
    """The accounts list (searched, filtered, sorted, paged) with the dashboard; htmx gets the list alone."""
    today = clock.today()
    form = AccountListForm(request.args)
    form.validate()
    listing, standings = None, []
    if not form.list_errors:
        listing = account_list.accounts_page(
            today, search=form.q.data, filter_name=form.filter.data or None, sort=form.sort.data,
            direction=form.order.data, page=form.page_number, per_page=PAGE_SIZE,
        )
        ids = [account.id for account in listing.accounts]
        timezone_name = current_app.config["BUSINESS_TIMEZONE"]
        by_account = license_store.licenses_by_account(
            ids, timezone_name, current_app.config["PROOF_MUST_BE_ACCEPTED"]) if ids else {}
        for account in listing.accounts:
            licenses = by_account.get(account.id, license_store.no_licenses())
            standings.append((account, *_roll_up(account, licenses, today)))
    # A bad search, filter or sort lists nothing (the message sits at its field); a bad page shows page 1.
    status = 422 if form.errors else 200
    shown = {
        "form": form, "listing": listing, "standings": standings, "page_url": _page_links(form),
        "filter_label": account_list.FILTERS.get(form.filter.data),
    }
    if wants_fragment():
        return render("admin/index.html", "admin/_account_list.html", status, **shown)
    months = expiry_timeline.monthly_expiries(expiry_timeline.expiries_from_database(today), today)
    last_finished = reminders.last_finished_at()
    return render(
        "admin/index.html", "admin/_account_list.html", status, **shown, work=_work(today),
        timeline=expiry_timeline.chart(months), last_run=reminders.last_run(), last_finished=last_finished,
        runs_stale=reminders.runs_are_stale(last_finished, clock.now(), current_app.config["REMINDER_RUN_STALE_HOURS"]),
    )


def _work(today):
    """What the staff home leads with: what staff must act on, each with the link to its list. Three counts,
    whatever the number of accounts (the billing report itself decides every account: seconds at 10,000)."""
    waiting, oldest = _awaiting()
    return {
        "waiting": waiting,
        "oldest_age": clock.now() - oldest if oldest else None,
        # Enrolled in BYOL but lapsed: their next cycle is billed by subscription unless fixed before it starts.
        "lapsed": account_list.count_matching(account_list.LAPSED, today),
        "failed_reminders": reminders.failed_count(),
    }


def _page_links(form):
    """page_url(n): the link to page n with the list's settings, defaults left out so links stay short."""
    settings = {} if form.list_errors else _list_settings(form)
    return lambda page: url_for(".index", **settings, page=page)


def _list_settings(form):
    defaults = {"q": "", "filter": "", "sort": account_list.NAME, "order": account_list.ASCENDING}
    given = {name: (getattr(form, name).data or "").strip() if name == "q" else getattr(form, name).data
             for name in defaults}
    return {name: value for name, value in given.items() if value != defaults[name]}


@bp.route("/accounts/<int:account_id>")
def account(account_id):
    return _account_page(_account_or_404(account_id))


def _account_page(account, invite_form=None, status=200):
    """The account page; an Invite user form that failed comes back in it with its messages."""
    today = clock.today()
    rows, byol = _standing(account, license_store.licenses_of(account.id), today)
    users = list(User.select().where(User.account == account.id).order_by(User.email))
    return render_template(
        "admin/account.html",
        account=account,
        rows=rows,
        byol=byol,
        users=users,
        reminders=reminders.outstanding_reminders(account, today),
        last_reminder_run=reminders.last_run(),
        today=today,
        status_form=AccountStatusForm(),
        enrollment_form=EnrollmentForm(),
        authorization_form=AuthorizationForm(),
        access_form=AccessForm(),
        invite_form=invite_form or InviteForm(formdata=None),
        review=ReviewForm(),
        retired=license_store.retired_licenses_of(account.id),
        confirm=confirmations,
        m365=microsoft365.tab_standing(account.id, current_app.config),
        m365_refused=microsoft365.refused_claims(account.id) if microsoft365.enabled(current_app.config) else [],
    ), status


@bp.route("/accounts/<int:account_id>/invitations", methods=["POST"])
def invite_user(account_id):
    """Invite user: create the user (or find this account's own) and email a link to Set password."""
    account = _account_or_404(account_id)
    form = InviteForm()
    if not form.validate_on_submit():
        return _account_page(account, form, 422)
    email = form.email.data.strip().lower()
    valid_for = current_app.config["INVITATION_VALID_FOR"]
    try:
        outcome, user, token = invitations.invite_user(
            account.id, email, (form.name.data or "").strip(), form.authorized.data, valid_for, clock.now()
        )
    except IntegrityError:
        outcome = invitations.ELSEWHERE  # the same email was just created by another request
    if outcome == invitations.ELSEWHERE:
        form.email.errors.append(f"{email} already has a login for another account or for staff; nothing was sent.")
        return _account_page(account, form, 409)
    try:
        invitations.send_invitation(user, token, account.name, current_user.name or current_user.email, valid_for)
    except invitations.NOT_SENT as error:
        current_app.logger.warning("The invitation to %s could not be sent: %s", user.email, error)
        flash(f"{user.email} was added, but the invitation email could not be sent ({error}). "
              "Use Invite user again with the same email to send a new link.", "error")
        return redirect(url_for(".account", account_id=account.id))
    again = " again; the earlier link no longer works" if outcome == invitations.INVITED_AGAIN else ""
    return _back_to(account.id, f"Invitation sent to {user.email}{again}. The link works for {duration(valid_for)}.")


# --- Changes staff confirm first: GET of the URL asks (the page without JavaScript), POST changes ---
# One rule per URL for both methods, so an id out of range is a 404 for either (two rules would make
# it a 405 for the other method).

def _customer_user_or_404(user_id):
    return found(User.get_or_none((User.id == user_id) & (User.is_admin == False)))  # noqa: E712


@bp.route("/users/<int:user_id>/access", methods=["GET", "POST"])
def set_access(user_id):
    """Deactivate a customer user (they can no longer sign in, their sessions end) or reactivate them."""
    user = _customer_user_or_404(user_id)
    return confirmations.confirm_then_post(
        AccessForm, user.account_id, ask=partial(confirmations.access, user), apply=partial(_set_access, user)
    )


def _set_access(user, deactivate):
    if account_store.set_deactivated(user.id, deactivate, clock.now()):
        state = "deactivated: they can no longer sign in" if deactivate else "active again"
        return _back_to(user.account_id, f"{user.email} is {state}.")
    state = "deactivated" if deactivate else "active"
    return _back_to(user.account_id, f"{user.email} already was {state}; nothing changed.", changed=False)


def _back_to(account_id, message, changed=True):
    flash(message, "success" if changed else "info")
    return redirect(url_for(".account", account_id=account_id))


@bp.route("/accounts/<int:account_id>/status", methods=["GET", "POST"])
def set_status(account_id):
    """Suspend an account (its users are signed out) or reactivate it."""
    account = _account_or_404(account_id)
    return confirmations.confirm_then_post(
        AccountStatusForm, account.id, ask=partial(confirmations.account_status, account),
        apply=partial(_set_status, account),
    )


def _set_status(account, status):
    if account_store.set_account_status(account.id, status, actor=current_user.id):
        return _back_to(account.id, f"{account.name} is now {status}.")
    return _back_to(account.id, f"{account.name} already was {status}; nothing changed.", changed=False)


@bp.route("/accounts/<int:account_id>/enrollment", methods=["GET", "POST"])
def set_enrollment(account_id):
    """Enroll an account in BYOL or switch it to provider subscription."""
    account = _account_or_404(account_id)
    return confirmations.confirm_then_post(
        EnrollmentForm, account.id, ask=partial(confirmations.enrollment, account),
        apply=partial(_set_enrollment, account),
    )


def _set_enrollment(account, enrolled):
    mode = "enrolled in BYOL" if enrolled else "billed by provider subscription"
    if account_store.set_enrollment(account.id, enrolled, actor=current_user.id):
        return _back_to(account.id, f"{account.name} is now {mode}.")
    return _back_to(account.id, f"{account.name} already was {mode}; nothing changed.", changed=False)


@bp.route("/users/<int:user_id>/authorization", methods=["GET", "POST"])
def set_authorization(user_id):
    """Authorize a customer user to open the portal, or remove the authorization."""
    user = _customer_user_or_404(user_id)
    return confirmations.confirm_then_post(
        AuthorizationForm, user.account_id, ask=partial(confirmations.authorization, user),
        apply=partial(_set_authorization, user),
    )


def _set_authorization(user, authorized):
    if account_store.set_authorization(user.id, authorized):
        state = "now authorized" if authorized else "no longer authorized"
        return _back_to(user.account_id, f"{user.email} is {state}.")
    state = "authorized" if authorized else "not authorized"
    return _back_to(user.account_id, f"{user.email} already was {state}; nothing changed.", changed=False)


@bp.route("/versions/<int:version_id>/review", methods=["POST"])
def review(version_id):
    version = found(
        LicenseVersion.select(LicenseVersion, License)
        .join(License)
        .where(LicenseVersion.id == version_id)
        .first()
    )
    form = ReviewForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for(".account", account_id=version.license.account_id))
    _record_review(version, form)
    return redirect(url_for(".account", account_id=version.license.account_id))


def _record_review(version, form, only_pending=False):
    """Record the review first, then email a rejection; a failed email is told to staff, the review stands."""
    decision = form.decision.data
    reason = (form.reason.data or "").strip()
    if not review_store.review_version(version.id, decision, reason, actor=current_user.id, only_pending=only_pending):
        flash(f"Proof for {version.license.plan} was already reviewed; nothing changed.", "info")
        return False
    flash(f"Proof for {version.license.plan} {decision}.", "success")
    if decision == LicenseVersion.REJECTED:
        unreached = review_notice.send_rejection(version.id)
        if unreached:
            flash(
                f"The rejection is recorded, but the email to {', '.join(unreached)} could not be sent. "
                "Tell the customer another way.",
                "error",
            )
    return True


@bp.route("/reviews")
def reviews():
    return _reviews_page()


def _reviews_page(failed=None, status=200):
    """The queue; `failed` is the (version id, form) whose submission came back with an error."""
    queue = review_store.review_queue()
    snapshots = microsoft365.staff_snapshots({v.license.account.id for v in queue}, current_app.config)
    g.proofs_waiting = (len(queue), min((row.submitted_at for row in queue), default=None))
    forms = {}
    if failed is not None:
        forms[failed[0]] = failed[1]
    return render_template(
        "admin/reviews.html", queue=queue, forms=forms, blank=ReviewForm(formdata=None),
        removals=review_store.removals_awaiting(), removal_form=RemovalForm(formdata=None),
        m365_snapshots=snapshots,
    ), status


@bp.route("/removals/<int:license_id>", methods=["POST"])
def decide_removal(license_id):
    """Confirm or refuse a customer's removal of a lapsed plan (docs/domain.md, "Removing a plan")."""
    license = found(
        License.select(License.id, License.account, License.plan)
        .where((License.id == license_id) & License.removal_requested_at.is_null(False) & License.retired_at.is_null())
        .first()
    )
    form = RemovalForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(f"{license.plan}: {error}", "error")
        return redirect(url_for(".reviews"))
    if form.decision.data == "confirm":
        if license_store.confirm_removal(license.account_id, license.id) is None:
            flash(f"The removal of {license.plan} was already decided; nothing changed.", "info")
        else:
            flash(f"Removal of {license.plan} confirmed: it stops counting from the next billing cycle.", "success")
        return redirect(url_for(".reviews"))
    reason = form.reason.data.strip()
    refused = license_store.refuse_removal(license.account_id, license.id, reason)
    if refused is None:
        flash(f"The removal of {license.plan} was already decided; nothing changed.", "info")
        return redirect(url_for(".reviews"))
    flash(f"Removal of {license.plan} refused: the plan stays, and the customer is emailed the reason.", "success")
    unreached = review_notice.send_removal_refused(license.id, refused[1], reason)
    if unreached:
        flash(
            f"The refusal is recorded, but the email to {', '.join(unreached)} could not be sent. "
            "Tell the customer another way.",
            "error",
        )
    return redirect(url_for(".reviews"))


@bp.route("/reviews/<int:version_id>", methods=["POST"])
def review_from_queue(version_id):
    version = found(review_store.queued_version(version_id))
    form = ReviewForm()
    if not form.validate_on_submit():
        if wants_fragment():
            response = current_app.make_response(
                (render_template("admin/_review_row.html", version=version, form=form), 422)
            )
            response.vary.add("HX-Request")
            return response
        return _reviews_page(failed=(version.id, form), status=422)
    recorded = _record_review(version, form, only_pending=True)
    if wants_fragment():
        response = current_app.make_response(
            render_template(
                "admin/_review_done.html", version=version, decision=form.decision.data if recorded else "already reviewed"
            )
        )
        response.vary.add("HX-Request")
        return response
    return redirect(url_for(".reviews"))


def _any_license_or_404(license_id):
    """A license of any account, removed ones included (with who removed them)."""
    owner = found(License.get_or_none(License.id == license_id)).account_id
    return found(license_store.license_of(owner, license_id, include_retired=True))


@bp.route("/licenses/<int:license_id>")
def license_history(license_id):
    return _license_page(_any_license_or_404(license_id))


def _license_page(license, rename_form=None, status=200):
    """The staff license page: its versions, reminder attempts, and the form to rename its plan."""
    return render_template(
        "portal/license_history.html",
        license=license,
        versions=license_store.history_of(license),
        proof_endpoint="admin.download_proof",
        attempts=reminders.attempts_of(license.id),
        rename_form=rename_form or RenameForm(formdata=None, plan=license.plan),
        show_check=True,
        m365_snapshot=microsoft365.staff_snapshots([license.account_id], current_app.config).get(license.account_id),
    ), status


@bp.route("/licenses/<int:license_id>/plan", methods=["POST"])
def rename_license(license_id):
    """Fix a typo in a plan's name; a name another plan of the account has is refused at the field."""
    license = _any_license_or_404(license_id)
    form = RenameForm()
    if not form.validate_on_submit():
        return _license_page(license, form, 422)
    old = license.plan
    try:
        changed = license_store.rename_license(license, form.plan.data)
    except license_store.DuplicatePlan as duplicate:
        form.plan.errors.append(
            f"This account already has a license for {duplicate.existing.plan}, and one plan cannot have two "
            "licenses. Choose another name, or ask the customer which plan this license is for."
        )
        return _license_page(license, form, 422)
    if changed:
        flash(f"The plan {old} is now named {license.plan}.", "success")
    else:
        flash(f"The plan already was named {license.plan}; nothing changed.", "info")
    return redirect(url_for(".license_history", license_id=license.id))


@bp.route("/proofs/<int:document_id>")
def download_proof(document_id):
    document = found(ProofDocument.get_or_none(ProofDocument.id == document_id))
    return send_proof(document)


@bp.route("/proofs/<int:document_id>/preview")
def proof_preview(document_id):
    """The document's preview image (its first page, or the image scaled down); 404 when it has none."""
    preview = preview_of(document_id, Limits.from_config(current_app.config))
    if preview is None:
        abort(404)
    return send_preview(document_id, preview)


def _billing_filters():
    """(form, valid, (year, month), mode, search) from the query string; an invalid filter is left out."""
    form = BillingFilterForm(request.args)
    valid = form.validate()
    cycle = (parse_cycle(form.cycle.data) if valid and form.cycle.data else None) or next_cycle(clock.today())
    mode = form.mode.data if valid and form.mode.data else None
    search = (form.q.data or "").strip() if valid else ""
    return form, valid, cycle, mode, search


@bp.route("/billing")
def billing():
    form, valid, (year, month), mode, search = _billing_filters()
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    report = billing_report.billing_report(
        year, month, clock.today(), current_app.config["BUSINESS_TIMEZONE"],
        search=search, mode=mode, page=page, per_page=PAGE_SIZE,
        must_be_accepted=current_app.config["PROOF_MUST_BE_ACCEPTED"],
    )
    filters = {"cycle": format_cycle(year, month), "mode": mode, "q": search or None}
    return render_template(
        "admin/billing.html", form=form, report=report, filters=filters, cycle=format_cycle(year, month),
        cycle_label=f"{MONTH_NAMES[month - 1]} {year}",
    ), (200 if valid else 400)


@bp.route("/billing.csv")
def billing_csv():
    form, valid, (year, month), mode, search = _billing_filters()
    if not valid:
        return render_error(400, detail=" ".join(e for errors in form.errors.values() for e in errors))
    report = billing_report.billing_report(
        year, month, clock.today(), current_app.config["BUSINESS_TIMEZONE"], search=search, mode=mode,
        must_be_accepted=current_app.config["PROOF_MUST_BE_ACCEPTED"],
    )
    name = f"billing-{format_cycle(year, month)}.csv"
    return Response(
        billing_report.as_csv(report.rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


@bp.route("/audit", endpoint="audit")
def audit_log_page():
    """Audit log: every entry, newest first, filtered by account, actor, kind and UTC dates; a page at a time."""
    form = AuditFilterForm(request.args)
    if not form.validate():
        # The messages sit at their fields; no query runs with a filter that could not be read.
        return render("admin/audit.html", "admin/_audit_log.html", status=422, form=form, results=None, args={},
                      describe=audit_log)
    page = audit_log.audit_page(form.filters(), form.before.cursor)
    return render("admin/audit.html", "admin/_audit_log.html", form=form, results=page, args=form.query_args(),
                  describe=audit_log)


@bp.route("/audit.csv")
def audit_csv():
    """The filtered Audit log as CSV, streamed a chunk at a time."""
    form = AuditFilterForm(request.args)
    if not form.validate():
        return render_error(
            422, title="Nothing was exported",
            detail=" ".join(e for errors in form.errors.values() for e in errors),
            back_url=url_for(".audit"), back_label="Back to the Audit log",
        )
    name = f"audit-log-{clock.now():%Y-%m-%d}.csv"
    return Response(
        stream_with_context(audit_log.csv_lines(form.filters())),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
