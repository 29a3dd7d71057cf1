"""Connect, callback and disconnect for the customer's Microsoft 365 tenant (the Client Licenses tab's
Connect Microsoft 365). Thin: the work is in store and graph. Absent (404) while M365_CLIENT_ID is unset."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import audit
from ..core import clock
from ..extensions import login_manager
from . import graph, rules, store

bp = Blueprint("microsoft365", __name__)


def settings():
    return graph.Settings.from_config(current_app.config)


@bp.before_request
def portal_users_only():
    """The same door as the portal: an authorized user of an active account, and the feature switched on."""
    if not store.enabled(current_app.config):
        abort(404)
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.is_admin:
        return redirect(url_for("admin.index"))
    if not current_user.may_use_portal:
        return redirect(url_for("portal.licenses"))  # the portal's own page says why, and whom to ask
    return None


def _back(message, category):
    flash(message, category)
    return redirect(url_for("portal.licenses"))


@bp.route("/connect")
def connect():
    """Send the customer's global admin to Microsoft's admin-consent page with a new single-use state.

    A link (GET), not a form: the portal's CSP allows forms to post only to itself (`form-action 'self'`),
    which Chromium applies to a form's redirects too, so a POST that redirects to Microsoft is blocked.
    A GET from elsewhere can do no harm: it only opens Microsoft's page, where the customer's admin must
    consent, and the state it makes works once, for this sign-in only.
    """
    state = store.start_consent(current_user.account_id, current_user.id, current_user.session_token, clock.now())
    redirect_uri = redirect_uri_for(current_app.config)
    return redirect(store.consent_url(settings(), redirect_uri, state), code=303)


def redirect_uri_for(config):
    """The callback address registered in Entra ID: from PORTAL_URL, never from the request's Host."""
    return config["PORTAL_URL"].rstrip("/") + url_for("microsoft365.callback")


@bp.route("/callback")
def callback():
    """Microsoft's answer: admin_consent=True&tenant=… or error=…; the tenant is believed only once proven."""
    account_id = store.take_consent(request.args.get("state"), current_user.id, current_user.session_token,
                                    clock.now())
    if account_id is None or account_id != current_user.account_id:
        return render_template("microsoft365/state_refused.html"), 400
    provider = current_app.config["PROVIDER_NAME"]
    if request.args.get("error"):
        detail = audit.outside_text(request.args.get("error_description") or request.args.get("error"))
        return _back(f"Microsoft 365 was not connected: Microsoft said “{detail}”. Nothing changed. A global "
                     "administrator of your Microsoft 365 organization has to approve the request.", "error")
    tenant = rules.tenant_id(request.args.get("tenant"))
    if request.args.get("admin_consent", "").lower() != "true" or tenant is None:
        return _back("Microsoft 365 was not connected: Microsoft's answer did not name an approved tenant. "
                     "Try Connect Microsoft 365 again.", "error")
    try:
        reading = graph.read_tenant(settings(), tenant)
    except graph.ConsentMissing:
        return _back(f"Microsoft 365 was not connected: Microsoft did not let {provider}'s app read the "
                     f"organization {tenant}, so the approval could not be confirmed. Try Connect Microsoft 365 again "
                     "as a global administrator of your organization.", "error")
    except graph.GraphError:
        current_app.logger.warning("Microsoft 365 connect: reading tenant %s failed", tenant, exc_info=True)
        return _back("Microsoft 365 was not connected: Microsoft could not be reached just now. "
                     "Try Connect Microsoft 365 again in a few minutes.", "error")
    try:
        store.connect(account_id, current_user.id, tenant, reading, clock.now(), clock.today())
    except store.TenantTaken:
        store.record_refused_claim(account_id, tenant)
        return _back(f"This Microsoft 365 organization ({tenant}) is already connected to another customer "
                     f"account at {provider}. One organization can be connected to one account only. If it should "
                     f"be yours, write to {current_app.config['SUPPORT_EMAIL']}; {provider} staff can see this attempt.",
                     "error")
    name = store.organization_name(reading) or tenant
    return _back(f"Microsoft 365 is connected: {name}. Your licenses are now checked against Microsoft's own "
                 "figures every day.", "success")


@bp.route("/disconnect", methods=["GET", "POST"])
def disconnect():
    """GET asks first; POST removes the tenant link and its snapshots."""
    link = store.link_of(current_user.account_id)
    if link is None:
        return _back("Microsoft 365 is not connected; nothing changed.", "info")
    if request.method == "GET":
        return render_template("microsoft365/disconnect.html", link=link)
    store.disconnect(current_user.account_id)
    return _back("Microsoft 365 was disconnected. Microsoft's figures about your organization were deleted from "
                 "the portal; your licenses and their proof stay.", "success")
