"""/dev/mailbox: the emails a development run kept (webapp.core.mailbox), in text and HTML.

Registered only when MAILBOX_DIR is set, which config.py allows in development (and tests) alone:
in production the URL does not exist. It asks for no sign-in, like Phoenix's /dev/mailbox: the
demo's invitations and reset links are read here before anyone has a password.
"""
from flask import Blueprint, abort, current_app, make_response, render_template

from ..core import mailbox

bp = Blueprint("mailbox", __name__)

# The HTML of a kept email is someone's text rendered by the portal's templates: shown sandboxed,
# with no script, no network and no form, as its own document.
HTML_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _folder():
    return current_app.config["MAILBOX_DIR"]


@bp.route("/")
def index():
    return render_template("mailbox/index.html", messages=mailbox.messages(_folder()))


def _kept(name):
    kept = mailbox.message(_folder(), name)
    if kept is None:
        abort(404)
    return kept


@bp.route("/<name>")
def show(name):
    return render_template("mailbox/message.html", message=_kept(name))


@bp.route("/<name>.html")
def html(name):
    kept = _kept(name)
    if not kept.html:
        abort(404)
    response = make_response(kept.html)
    response.mimetype = "text/html"
    response.headers["Content-Security-Policy"] = HTML_POLICY
    return response
