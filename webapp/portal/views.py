from collections import Counter

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms import SelectChoice

from .. import reminders
from ..accounts import directory
from ..audit import log as audit_log
from ..calendar import feed as calendar_feed
from ..core import clock
from ..core.clock import business_date
from ..core.errors import render_error
from ..core.filters import day
from ..core.fragments import fragment_key
from ..core.hypermedia import render, wants_fragment
from ..core.mail import portal_url
from ..core.row_ids import parse_row_id
from ..extensions import login_manager
from ..licenses import store as license_store
from ..licenses.document_text import Limits
from ..licenses.models import LicenseVersion
from ..licenses.proofs import (
    ACCEPT,
    Allowance,
    ReadingBusy,
    UploadRefused,
    keep_upload,
    read_kept,
    read_upload,
    send_proof,
    with_text,
)
from ..licenses.rules import next_cycle_start, removal_waits_for_staff, where_account_stands
from ..microsoft365 import store as microsoft365
from .forms import LicenseForm, LicenseTermsForm

bp = Blueprint("portal", __name__)

READING_BUSY = ("Another upload of yours is being checked right now. Your document is kept: "
                "try Save again in a moment.")


def _business_today():
    """The business date, read once per request: every row of a page is keyed on the same day."""
    if "business_today" not in g:
        g.business_today = clock.today()
    return g.business_today


@bp.app_template_global()
def license_row_key(license, sent, removal_consequences, microsoft365):
    """The cache key of a license's row on the tab: everything the row shows and everything that decides it.

    The license as read (LicenseRow: its account and id, plan and product, and its current version
    with its terms, contact, proof and review state), the reminders sent for its date, the account's latest
    Microsoft 365 snapshot (its verdict), the business date (status
    and "expiring soon" depend on it), the account's words for what a removal does (its next billing
    cycle; whether this is its only license), the path the app is served under, and, from
    fragment_key, the deployment's settings and code. Keyed on the values, not on ids alone: a row
    can only ever be served for the same account, license and values, even where SQLite reuses the
    id of a deleted row.
    """
    return fragment_key(
        "portal/license-row", license, sent, microsoft365, _business_today(), removal_consequences, request.script_root,
    )


@bp.app_template_global()
def license_table_key(rows, sent_steps, removal_consequences, saved_id, microsoft365):
    """The cache key of the tab's rows as a whole: each row's inputs (as in license_row_key), in order, and
    which row was just saved (it is marked and takes the focus)."""
    return fragment_key(
        "portal/license-table", [(license, status, sent_steps.get(license.id, [])) for license, status in rows],
        microsoft365, _business_today(), removal_consequences, saved_id, request.script_root,
    )


@bp.before_request
def require_portal_user():
    """Only an authorized user of an active account gets past here; checked on every request."""
    if request.endpoint == "portal.help":
        return None  # the questions and answers are for anyone, signed in or not
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.is_admin:
        return redirect(url_for("admin.index"))
    if not current_user.may_use_portal:
        if wants_fragment():
            # Access was withdrawn while the page was open: reload it, so the whole page says why.
            return "", 403, {"HX-Refresh": "true"}
        return _refusal(), 403


def _refusal():
    """The page that says why the portal is closed to this user, and whom to ask."""
    account = current_user.account
    # A suspended account is the provider's decision: its authorized users cannot lift it either, so
    # the page points at the provider only. A user who is not authorized is pointed at the colleagues
    # who are (an authorized user of the account can ask the provider to authorize them).
    ask = directory.authorized_users_of(account.id) if account is not None and account.is_active else []
    return render_template(
        "portal/refused.html", user=current_user, authorized_users=ask,
        users_shown=directory.AUTHORIZED_USERS_SHOWN,
    )


def _account():
    return current_user.account


def _form(form_class):
    form = form_class(
        today=clock.today(),
        provider_name=current_app.config["PROVIDER_NAME"],
        max_years_ahead=current_app.config["LICENSE_MAX_YEARS_AHEAD"],
    )
    if isinstance(form, LicenseForm):
        form.products = {str(p.id): p for p in license_store.products()}
        form.product.choices = [SelectChoice("", "Choose…")] + [
            SelectChoice(key, p.name) for key, p in form.products.items()
        ]
    return form


def _panel_context():
    account = _account()
    today = clock.today()
    rows, byol = license_store.account_standing(
        account, license_store.licenses_of(account.id), today,
        timezone_name=current_app.config["BUSINESS_TIMEZONE"],
        must_be_accepted=current_app.config["PROOF_MUST_BE_ACCEPTED"],
    )
    return {
        "account": account, "rows": rows, "byol": byol, "today": today,
        # Every plan that still needs proof (licenses.rules.where_account_stands), and the review states.
        "position": where_account_stands(byol),
        "awaiting_review": sum(1 for lic, _ in rows if lic.current.review_status == LicenseVersion.PENDING),
        "must_be_accepted": current_app.config["PROOF_MUST_BE_ACCEPTED"],
        "sent_steps": reminders.sent_steps(account.id),
        # A removal, like every billing change, counts from the next cycle: the Remove dialog says when.
        "next_cycle": next_cycle_start(today, account.billing_day),
        "m365": microsoft365.tab_standing(account.id, current_app.config),
    }


def _form_context(form, license=None, kept=None, differences=()):
    return {
        "form": form,
        "license": license,
        "kept": kept,
        # (field, what the document says) where it says otherwise than the form: the form asks what to do.
        "differences": dict(differences),
        "asks_note": bool(differences) or bool(form.staff_note.errors),
        "accept": ACCEPT,
        "max_bytes": current_app.config["UPLOAD_MAX_BYTES"],
        # A swapped-in form also empties the messages box: "X was added" must not sit above its errors.
        "oob_messages": wants_fragment(),
    }


def _submitted_proof(form, read):
    """(new upload, checked; the upload kept from an earlier try) of a submission.

    Only a form that is otherwise valid (`read`) has its document read: a form refused anyway keeps
    its upload unread, and it is read at the try that is valid. An account's documents are read one
    at a time across every worker (licenses.reading); while another is being read the form says so
    and keeps the upload.
    """
    account, upload = _account(), form.proof.data
    kept = license_store.kept_proof(account.id, form.kept_proof.data)
    limits = Limits.from_config(current_app.config)
    if upload and upload.filename:
        try:
            checked = read_upload(upload, current_app.config["UPLOAD_MAX_BYTES"])
        except UploadRefused as refusal:
            form.proof.errors.append(str(refusal))
            return None, kept
        if not read:
            return checked, kept
        try:
            # Read now, before any transaction: it may take PROOF_TEXT_SECONDS, and never refuses the upload.
            return with_text(checked, limits, account.id), kept
        except ReadingBusy:
            form.proof.errors.append(READING_BUSY)
            return checked, kept
    if kept is None:
        form.proof.errors.append("Choose the proof of licensing document (PDF, PNG or JPEG).")
    elif read:
        try:
            read_kept(kept, limits, account.id)
        except ReadingBusy:
            form.proof.errors.append(READING_BUSY)
    return None, kept


def _allowance():
    config = current_app.config
    return Allowance(
        count=config["UPLOAD_ORPHAN_MAX_PER_ACCOUNT"],
        size=config["UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT"],
        hours=config["UPLOAD_ORPHAN_MAX_AGE_HOURS"],
    )


def _keep(form, upload, kept):
    """After a failed form: store its new upload for the next try, within the account's allowance."""
    if upload is None:
        return kept
    try:
        return keep_upload(upload, _account().id, current_user.id, _allowance(), replaces=kept)
    except UploadRefused as refusal:
        form.proof.errors.append(str(refusal))
        return kept


def _proof_gone(form):
    form.proof.errors.append(
        "The file kept from your last try is no longer stored (uploads that no license uses are deleted "
        f"after {_allowance().hours:g} hours). Choose the proof of licensing document again."
    )


def _document_check(form, plan, proof):
    """(verdict, columns the version adds) of a valid submission, or (verdict, None) to ask at the form.

    Where the document says otherwise than the form, the customer corrects the entry, chooses
    another document, or saves anyway with a required note to staff (docs/domain.md, "Trust in proof").
    """
    verdict = license_store.proof_verdict(_account().id, proof, plan, form.terms())
    if not verdict.differences:
        return verdict, {}
    if form.save_anyway.data:
        if form.staff_note.data:
            return verdict, {"saved_anyway": True, "customer_note": form.staff_note.data}
        form.staff_note.errors.append(form.NOTE_REQUIRED)
    return verdict, None


def _saved_message(done, verdict, columns):
    """What a save says about the document check and review, after `done` ("Office 365 E3 was added.")."""
    if columns.get("saved_anyway"):
        return (f"{done} Your note goes to {current_app.config['PROVIDER_NAME']} with the document. As the "
                "document differs from what you entered, this plan counts toward BYOL only once staff accept it.")
    if verdict.nothing_to_check:
        return (f"{done} The document could not be checked against what you entered, as it does not show those "
                "details as text (a scan or a photo, for example): staff will check it. Until then it is awaiting "
                "review.")
    return f"{done} The document matches what you entered; it is awaiting review by staff."


def _saved(message, license=None, category="success"):
    """After a save: the refreshed panel for htmx (a saved row takes the focus), or a redirect to the tab."""
    flash(message, category)
    if wants_fragment():
        response = render(
            "portal/licenses.html", "portal/_panel.html", oob_messages=True, saved_id=license.id if license else None,
            **_panel_context(),
        )
        response.headers["HX-Retarget"] = "#licenses-panel"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return redirect(url_for(".licenses"))


@bp.route("/")
def index():
    return redirect(url_for(".licenses"))


@bp.route("/licenses")
def licenses():
    context = _panel_context()
    if not wants_fragment():
        # The Users panel sits beside the licenses panel, outside what an htmx swap replaces:
        # only the full page pays for its one query.
        context["authorized_users"] = directory.authorized_users_of(context["account"].id)
        context["users_shown"] = directory.AUTHORIZED_USERS_SHOWN
    return render("portal/licenses.html", "portal/_panel.html", **context)


@bp.route("/licenses/new")
def new_license():
    return render(
        "portal/license_form.html", "portal/_license_form.html", **_form_context(_prefilled(_form(LicenseForm)))
    )


def _prefilled(form):
    """A new Add License form with what the portal knows already: the product when there is only one, the
    signed-in user as the contact, and the tenant the account's other licenses name most. Each stays a
    field the customer can change."""
    products = list(form.products)
    if len(products) == 1:
        form.product.data = products[0]
    form.contact_name.data = current_user.name or ""
    form.contact_email.data = current_user.email
    tenants = Counter(license.current.tenant for license in license_store.licenses_of(_account().id)
                      if license.current is not None and license.current.tenant)
    if tenants:
        form.tenant.data = tenants.most_common(1)[0][0]
    return form


@bp.route("/licenses", methods=["POST"])
def create_license():
    form = _form(LicenseForm)
    valid = form.validate_on_submit()
    upload, kept = _submitted_proof(form, read=valid)
    if valid and not form.proof.errors:
        product = form.products[form.product.data]
        verdict, columns = _document_check(form, form.plan.data, upload or kept)
        if columns is None:
            return _ask_at_form(form, upload, kept, verdict)
        try:
            license = license_store.add_license(
                _account(), current_user.id, product, form.plan.data, form.terms() | columns, upload or kept,
                replaces=kept if upload else None,
            )
        except license_store.DuplicatePlan as duplicate:
            # The upload is not kept: it belongs with an Update of that license, not with this form.
            form.plan.errors.append(
                f"Your account already has a license for {duplicate.existing.plan}. One license per plan: "
                "use Update on that row to enter the renewed expiration date and new proof."
            )
        except license_store.ProofGone:
            _proof_gone(form)
            kept = None
        else:
            return _saved(_saved_message(f"{license.plan} was added.", verdict, columns), license)
    else:
        kept = _keep(form, upload, kept)
    return render(
        "portal/license_form.html",
        "portal/_license_form.html",
        status=422,
        **_form_context(form, kept=kept),
    )


def _ask_at_form(form, upload, kept, verdict, license=None):
    """The form again, saying where the document differs; the upload is kept for the next try."""
    kept = _keep(form, upload, kept)
    return render(
        "portal/license_form.html",
        "portal/_license_form.html",
        status=422,
        **_form_context(form, license=license, kept=kept, differences=verdict.differences),
    )


def _license_or_404(license_id):
    """The account's license, not removed; 404 otherwise (one that was removed says so)."""
    license = license_store.license_of(_account().id, license_id, include_retired=True)
    if license is None:
        abort(404)
    if license.is_retired:
        abort(render_error(
            404, title=f"{license.plan} was removed",
            detail=f"This plan was removed from your Client Licenses on {_removal_day(license)}. "
                   "If your account has it again, enter it with Add License.",
            back_url=url_for(".licenses"), back_label="Back to Client Licenses",
        ))
    return license


@bp.route("/licenses/<int:license_id>")
def license_history(license_id):
    license = _license_or_404(license_id)
    return render_template(
        "portal/license_history.html",
        license=license,
        versions=license_store.history_of(license),
        today=clock.today(),
    )


@bp.route("/licenses/<int:license_id>/update", methods=["GET", "POST"])
def update_license(license_id):
    license = _license_or_404(license_id)
    form = _form(LicenseTermsForm)
    kept = None
    if form.is_submitted():
        valid = form.validate()
        upload, kept = _submitted_proof(form, read=valid)
        if valid and not form.proof.errors:
            verdict, columns = _document_check(form, license.plan, upload or kept)
            if columns is None:
                return _ask_at_form(form, upload, kept, verdict, license=license)
            try:
                license_store.renew_license(
                    license, current_user.id, form.terms() | columns, upload or kept,
                    replaces=kept if upload else None,
                )
            except license_store.ProofGone:
                _proof_gone(form)
                kept = None
            else:
                return _saved(_saved_message(
                    f"{license.plan} was updated. The earlier proof is kept in its history.", verdict, columns
                ), license)
        else:
            kept = _keep(form, upload, kept)
        status = 422
    else:
        current = license.current
        terms = {
            "seats": current.seats,
            "term": current.term,
            "tenant": current.tenant,
            "contact_name": current.contact_name,
            "contact_email": current.contact_email,
        }
        if current.review_status == LicenseVersion.REJECTED:
            # A rejected proof is usually the wrong document, not a wrong date: only what changed is typed.
            terms["expires_on"] = current.expires_on
        form.process(data=terms)
        status = 200
    return render(
        "portal/license_form.html",
        "portal/_license_form.html",
        status=status,
        **_form_context(form, license=license, kept=kept),
    )


@bp.route("/proofs/<int:document_id>")
def download_proof(document_id):
    document = license_store.proof_of(_account().id, document_id)
    if document is None:
        abort(404)
    return send_proof(document)


@bp.route("/calendar")
def calendar():
    """The feed page; ?regenerate asks before a new URL replaces the one calendars are subscribed to
    (a page, not a dialog, so it asks without JavaScript too; the POST below is the answer)."""
    has_feed = calendar_feed.has_feed(_account().id)
    asking = has_feed and "regenerate" in request.args
    return render_template("portal/calendar.html", has_feed=has_feed, feed_url=None, asking=asking)


@bp.route("/calendar", methods=["POST"])
def regenerate_calendar():
    token = calendar_feed.issue_feed_token(_account().id, current_user.id)
    feed_url = portal_url("feeds.calendar", token=token)
    # Shown in this response only: the database keeps the token's hash, never the URL.
    response = make_response(render_template("portal/calendar.html", has_feed=True, feed_url=feed_url,
                                             webcal_url=_webcal(feed_url), asking=False))
    response.headers["Cache-Control"] = "no-store"
    return response


def _webcal(url):
    """The feed's webcal:// address: calendar apps open it as a subscription (webcal is http(s) by another name)."""
    return "webcal://" + url.split("://", 1)[1]


@bp.route("/activity")
def activity():
    """Activity: what was done in the user's own account, newest first, without the provider's internal entries."""
    before = request.args.get("before", "")
    cursor = parse_row_id(before) if before else None
    if before and cursor is None:
        return render_error(422, title="This page link is damaged",
                            detail="Open Activity again from the Client Licenses tab.",
                            back_url=url_for(".activity"), back_label="Newest activity")
    page = audit_log.activity_page(_account().id, cursor)
    return render("portal/activity.html", "portal/_activity_entries.html", results=page, describe=audit_log,
                  account=_account())


@bp.route("/help")
def help():
    return render_template("portal/help.html")


@bp.route("/licenses/<int:license_id>/remove", methods=["GET", "POST"])
def remove_license(license_id):
    """Remove a plan the account no longer has: GET asks first (the page without JavaScript), POST removes.

    With htmx the Remove button asks in a dialog (hx-confirm) and posts here directly.
    """
    license = license_store.license_of(_account().id, license_id, include_retired=True)
    if license is None:
        abort(404)
    if license.is_retired:
        return _already_removed(license)
    if license.removal_awaiting_confirmation:
        return _saved(f"The removal of {license.plan} already awaits confirmation by staff; nothing changed.",
                      category="info")
    config = current_app.config
    terms = license_store.terms_of(license, config["BUSINESS_TIMEZONE"], config["PROOF_MUST_BE_ACCEPTED"])
    waits = removal_waits_for_staff(terms, clock.today())
    if request.method == "GET":
        context = _panel_context()
        return render(
            "portal/remove_license.html", "portal/_remove_license.html",
            license=license, next_cycle=context["next_cycle"], only_license=len(context["rows"]) == 1,
            waits_for_staff=waits,
        )
    if waits:
        if not license_store.request_removal(license, current_user.id):
            return _already_removed(license)
        return _saved(
            f"{license.plan} has lapsed, so its removal waits for {config['PROVIDER_NAME']} to confirm it. Until "
            "then it still counts as lapsed and your BYOL status stays as it is. If the removal is refused, "
            "you are told why by email.", category="info",
        )
    if not license_store.retire_license(license, current_user.id):
        return _already_removed(license)  # a second tab or click got there between the lookup and now
    next_cycle = next_cycle_start(clock.today(), _account().billing_day)
    when = f"from the billing cycle starting {day(next_cycle)}" if next_cycle else "from the next billing cycle"
    return _saved(
        f"{license.plan} was removed. It no longer counts toward your BYOL status {when}; "
        f"{current_app.config['PROVIDER_NAME']} keeps its history."
    )


def _removal_day(license):
    """The business-calendar day the license was removed, as the customer reads dates."""
    return day(business_date(license.retired_at, current_app.config["BUSINESS_TIMEZONE"]))


def _already_removed(license):
    when = f" on {_removal_day(license)}" if license.retired_at else ""
    return _saved(f"{license.plan} was already removed{when}; nothing changed.", category="info")
