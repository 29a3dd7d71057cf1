"""The billing API: GET only, bearer tokens, JSON errors."""
from flask import Blueprint, current_app, jsonify, request

from ..core import clock
from . import api_tokens, openapi
from . import report as billing_report
from .rules import MODES, format_cycle, next_cycle, parse_cycle

bp = Blueprint("api", __name__)


class BadParameter(Exception):
    """A query parameter the API cannot use; the message says which and why."""


def _error(status, message, headers=None):
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _bearer_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _integer(name, default, maximum):
    text = request.args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= maximum:
        raise BadParameter(f"{name} must be a whole number from 1 to {maximum}.")
    return int(text)


@bp.errorhandler(BadParameter)
def bad_parameter(error):
    return _error(400, str(error))


@bp.before_request
def authenticate():
    if request.endpoint == "api.openapi_document":
        return None
    token = _bearer_token()
    outcome = api_tokens.use_token(token, current_app.config["API_RATE_LIMIT"])
    if outcome == api_tokens.INVALID:
        return _error(401, "A valid bearer token is required.", {"WWW-Authenticate": 'Bearer realm="billing"'})
    if outcome == api_tokens.LIMITED:
        return _error(429, "Too many requests with this token.",
                      {"Retry-After": api_tokens.retry_after(token)})
    return None


PARAMETERS = {"cycle", "mode", "page", "per_page"}


def _check_parameters():
    """Refuse a parameter the API does not know or one given twice: a typo must not pass for a default."""
    unknown = sorted(set(request.args) - PARAMETERS)
    if unknown:
        raise BadParameter(f"Unknown parameter {unknown[0]!r}; the parameters are {', '.join(sorted(PARAMETERS))}.")
    repeated = [name for name in PARAMETERS if len(request.args.getlist(name)) > 1]
    if repeated:
        raise BadParameter(f"{repeated[0]} is given more than once.")


@bp.route("/billing")
def billing():
    _check_parameters()
    today = clock.today()
    cycle_text = request.args.get("cycle")
    cycle = next_cycle(today) if cycle_text is None else parse_cycle(cycle_text)
    if cycle is None:
        raise BadParameter("cycle must be a month, YYYY-MM (1900-01 to 2999-12).")
    mode = request.args.get("mode")
    if mode is not None and mode not in MODES:
        raise BadParameter(f"mode must be one of {', '.join(MODES)}.")
    page = _integer("page", 1, openapi.MAX_PAGE)
    per_page = _integer("per_page", openapi.DEFAULT_PER_PAGE, openapi.MAX_PER_PAGE)
    report = billing_report.billing_report(
        *cycle, today, current_app.config["BUSINESS_TIMEZONE"], mode=mode, page=page, per_page=per_page,
        must_be_accepted=current_app.config["PROOF_MUST_BE_ACCEPTED"],
    )
    return jsonify(
        cycle=format_cycle(*cycle),
        page=page,
        per_page=per_page,
        next_page=page + 1 if report.has_next else None,
        accounts=[row.as_dict() for row in report.rows],
    )


@bp.route("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
