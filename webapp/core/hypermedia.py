"""One URL, two shapes: the full page for a browser load, the partial for an htmx swap."""
from flask import make_response, render_template, request


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
