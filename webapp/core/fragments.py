"""Rendered fragments kept between requests: Flask-Caching's `{% cache %}` Jinja extension, with keys
made here.

A fragment is keyed on exactly what it shows: the caller names its inputs (a license's current
version, its review state, its last reminder, the business date...) and `fragment_key()` adds the
deployment (its settings and the code and templates it runs). The key is a SHA-256 of all of them,
so two inputs cannot run together into one key (Flask-Caching joins the parts with "_"), and no
text a customer typed ends up in a key. Nothing per user or per request may be inside a cached
fragment (a CSRF token, the signed-in user's name): it would be served to the next request.

The store is each worker's memory (cachelib's SimpleCache) unless CACHE_TYPE=NullCache turns
caching off. Within a process the fingerprint is computed once, when the app is built: a changed
setting or a deployed change of code starts new workers, and a new fingerprint.
"""
import functools
import hashlib
from pathlib import Path

from flask import current_app, g, has_request_context

from ..extensions import cache

# What the fingerprint reads of the code: the package and the templates beside it.
CODE_ROOTS = (Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2] / "templates")
_PLAIN = (str, int, float, bool, type(None))


def _plain_settings(config):
    """The settings that are plain values (text, numbers, durations...), in name order; objects (the
    database handle, a test's clock) are left out, their repr differs in every process."""
    for name in sorted(config):
        value = config[name]
        if isinstance(value, _PLAIN) or (isinstance(value, (tuple, list, frozenset, set))
                                         and all(isinstance(item, _PLAIN) for item in value)):
            yield name, value if not isinstance(value, (set, frozenset)) else sorted(value, key=repr)
        elif type(value).__module__ == "datetime":
            yield name, value


@functools.cache
def code_digest(roots=CODE_ROOTS):
    """SHA-256 over every .py, .html and .txt file under `roots`, by path and content (read once per process:
    code that changes is a new process)."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".html", ".txt") and path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(config, roots=CODE_ROOTS):
    """The deployment's fingerprint: its plain settings and its code."""
    return hashlib.sha256(repr((list(_plain_settings(config)), code_digest(roots))).encode()).hexdigest()


def _deployment():
    """The fingerprint of the app's settings as they are now and of its code, once per request: a setting
    changed while the app runs (tests do) shows at the next request."""
    if has_request_context():
        if "fragment_fingerprint" not in g:
            g.fragment_fingerprint = fingerprint(current_app.config)
        return g.fragment_fingerprint
    return fingerprint(current_app.config)


def fragment_key(*parts):
    """The key of a fragment showing `parts` (values with a stable repr: ids, dates, text) in this deployment."""
    return hashlib.sha256(repr((_deployment(), parts)).encode()).hexdigest()


def register(app):
    """Bind the cache and its `{% cache %}` tag to the app, and fingerprint the deployment."""
    app.config.setdefault("CACHE_NO_NULL_WARNING", True)
    cache.init_app(app)
    app.jinja_env.globals["fragment_key"] = fragment_key
