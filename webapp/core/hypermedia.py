"""One URL, two shapes: the full page for a browser load, the partial for an htmx swap; and sending
htmx to another page, which a redirect alone would not do."""
from flask import make_response, redirect, render_template, request


def wants_fragment():
    """True only for a real htmx request; boosted and history-restore requests need the whole page."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page, fragment, status=200, **context):
    """Render `fragment` for htmx and `page` (which includes it) otherwise; either way Vary: HX-Request."""
    template = fragment if wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_to(target, unauthorized=False):
    """Send the browser to `target` as a whole page: a redirect, or HX-Redirect for htmx."""
    # htmx follows a redirect inside its request and would swap the page it gets into this one, so
    # htmx is told with HX-Redirect instead. After a form that worked (200) that is only a real htmx
    # request: a boosted one swaps the whole body and may follow the redirect. When the page needs a
    # sign-in or the second factor first (401, which htmx never swaps) it is every htmx request.
    told_by_header = bool(request.htmx) if unauthorized else wants_fragment()
    if not told_by_header:
        return redirect(target)
    response = make_response("", 401 if unauthorized else 200)
    response.headers["HX-Redirect"] = target
    return response
