"""Error pages: every refusal says what happened and what to do, as a page or an htmx fragment."""
from html import escape

from flask import current_app, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import SecurityError

from .filters import filesize
from .hypermedia import render, wants_fragment

MESSAGES = {
    400: ("The request could not be understood", "Reload the page and try again."),
    403: ("You may not open this page", "If you think you should, ask your account's administrator."),
    404: ("Not found", "The page or document does not exist, or it belongs to another account."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("The upload is too large", None),
    500: ("Something went wrong on our side", "Nothing you entered was saved. Please try again in a minute."),
}


# A form posted to the first endpoint is shown by the second (the rest are shown by their own GET).
FORM_PAGES = {"portal.create_license": "portal.new_license"}


def form_page():
    """The address of the form the refused request was posted from, or None if there is none to go back to."""
    rule = request.url_rule
    if rule is None:
        return None
    endpoint = FORM_PAGES.get(rule.endpoint, rule.endpoint)
    shown_by_get = any(
        "GET" in (other.methods or ()) for other in current_app.url_map.iter_rules(endpoint)
    )
    return url_for(endpoint, **(request.view_args or {})) if shown_by_get else None


def render_error(code, title=None, detail=None, back_url=None, back_label=None):
    """The error page for `code`, or just its message box for an htmx request.

    `back_url` adds a link to the page (an htmx request keeps its page, so needs none).
    """
    default_title, default_detail = MESSAGES.get(code, MESSAGES[500])
    fragment = wants_fragment()
    response = render(
        "errors/error.html",
        "errors/_message.html",
        status=code,
        title=title or default_title,
        detail=detail or default_detail,
        back_url=None if fragment else back_url,
        back_label=back_label,
    )
    if fragment:
        # Show the message above the page; the form the user was filling in stays as it was.
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def register(app):
    """Install the handlers on the app."""

    def too_large(error):
        limit = filesize(current_app.config["UPLOAD_MAX_BYTES"])
        return render_error(
            413,
            detail=f"Proof documents may be at most {limit}. "
            "Nothing was saved; choose a smaller PDF, PNG or JPEG and submit the form again.",
            back_url=form_page(),
            back_label="Back to the form",
        )

    def csrf_failed(error):
        if "referrer" in (error.description or "").lower():  # HTTPS: the form came from elsewhere
            return render_error(
                400,
                title="The form came from another page",
                detail="Over HTTPS a form must be sent from a page of this portal, and this one was not, "
                "so nothing was saved. Open the portal's own page and submit the form again.",
            )
        return render_error(
            400,
            title="The form expired",
            detail="The security token of the form was missing or out of date, so nothing was saved. "
            "Reload the page and submit it again.",
        )

    def wrong_host(error):
        """A request for a host that is not PORTAL_URL's (TRUSTED_HOSTS): no URL can be built for it, so
        the page is plain, links to the portal's own address, and is never cached."""
        portal = current_app.config["PORTAL_URL"]
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Wrong address</title></head>'
            f"<body><h1>Wrong address</h1><p>This portal answers only at "
            f'<a href="{escape(portal)}">{escape(portal)}</a>. Open it there.</p></body></html>'
        )
        return body, 400, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}

    app.register_error_handler(SecurityError, wrong_host)
    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(413, too_large)
    for code in (400, 403, 404, 405, 500):
        app.register_error_handler(code, lambda error, code=code: render_error(code))
