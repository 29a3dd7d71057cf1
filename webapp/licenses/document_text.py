"""The text layer of an uploaded proof, read with pypdf in a child process that is killed when it overruns.

A hostile PDF (a huge content stream, deeply nested objects, a decompression bomb, thousands of
pages) can keep pypdf busy for minutes or take gigabytes, and a Python thread cannot be stopped. So
the bytes go to a fresh interpreter (`python -I` running this file; no fork of a threaded gunicorn
worker, no inherited database connection). It caps its own memory and CPU time, reads at most
PROOF_TEXT_MAX_PAGES pages and PROOF_TEXT_MAX_CHARS characters, and prints JSON; the request waits
PROOF_TEXT_SECONDS of wall clock, then kills it. Whatever goes wrong is a status, never an exception:
the check must never block the customer's upload.

This file imports only the standard library at the top, so the child starts with nothing but pypdf.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass

# What became of reading a document's text (ProofDocument.text_status, ProofCheck.status).
READ = "read"
NO_TEXT = "no_text"  # an image, or a PDF without a text layer (a scan)
UNREADABLE = "unreadable"  # pypdf failed, ran out of memory, or the document is encrypted
TIMED_OUT = "timeout"  # killed at PROOF_TEXT_SECONDS
UNCHECKED = "unchecked"  # stored before this check existed, or by a command that does not read it

PDF = "application/pdf"


@dataclass(frozen=True)
class Limits:
    """How much of a document is read, and how long and how much memory reading it may take."""

    pages: int
    chars: int
    seconds: float
    memory_bytes: int

    @classmethod
    def from_config(cls, config):
        return cls(
            pages=config["PROOF_TEXT_MAX_PAGES"],
            chars=config["PROOF_TEXT_MAX_CHARS"],
            seconds=config["PROOF_TEXT_SECONDS"],
            memory_bytes=config["PROOF_TEXT_MAX_MEMORY_MB"] * 1024 * 1024,
        )


@dataclass(frozen=True)
class DocumentText:
    """A document's text as read (raw, from pypdf) and how the reading went."""

    status: str
    text: str = ""


def read_text(content, media_type, limits):
    """The text of a proof document within `limits`; images and scans have none to read."""
    if media_type != PDF:
        return DocumentText(NO_TEXT)
    limits_args = [limits.pages, limits.chars, limits.memory_bytes, int(limits.seconds) + 1]
    command = [sys.executable, "-I", os.path.abspath(__file__), *map(str, limits_args)]
    try:
        # pypdf's warnings go nowhere: a hostile file can make millions of them.
        finished = subprocess.run(
            command, input=content, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=limits.seconds
        )
    except subprocess.TimeoutExpired:
        # run() has killed the child (SIGKILL) and reaped it before raising.
        return DocumentText(TIMED_OUT)
    except OSError:
        return DocumentText(UNREADABLE)
    if finished.returncode != 0:
        return DocumentText(UNREADABLE)
    try:
        text = json.loads(finished.stdout)["text"]
    except (ValueError, KeyError, TypeError):
        return DocumentText(UNREADABLE)
    if not isinstance(text, str):
        return DocumentText(UNREADABLE)
    text = text[: limits.chars]
    return DocumentText(READ, text) if text.strip() else DocumentText(NO_TEXT)


def _child(pages, chars, memory_bytes, cpu_seconds):
    """In the child: read stdin as a PDF, print {"text": ...}; any failure is a non-zero exit."""
    import io
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    content = sys.stdin.buffer.read()

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    if reader.is_encrypted and not reader.decrypt(""):
        sys.exit(3)
    parts, length = [], 0
    for page in _first_pages(reader, pages):
        if length >= chars:
            break
        page_text = page.extract_text() or ""
        parts.append(page_text)
        length += len(page_text) + 1
    json.dump({"text": "\n".join(parts)[:chars]}, sys.stdout)


def _first_pages(reader, limit):
    """The first `limit` pages, walking the page tree only as far as needed.

    pypdf's `reader.pages` resolves every page first: 1.7 s for a 5,000-page file, however few are read.
    Attributes a page inherits from its parents (its fonts among them) are passed down as pypdf does.
    """
    from pypdf import PageObject
    from pypdf.generic import IndirectObject, NameObject

    inheritable = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
    found, seen = [], set()

    def visit(node, reference, inherited, depth):
        if len(found) >= limit or depth > 64:
            return
        if isinstance(reference, IndirectObject):
            if reference.idnum in seen:
                return  # a page tree that loops
            seen.add(reference.idnum)
        if "/Kids" in node:
            inherited = {**inherited, **{key: node[key] for key in inheritable if key in node}}
            for kid in node["/Kids"]:
                visit(kid.get_object(), kid, inherited, depth + 1)
                if len(found) >= limit:
                    return
        else:
            page = PageObject(reader, reference if isinstance(reference, IndirectObject) else None)
            page.update(node)
            for key, value in inherited.items():
                page.setdefault(NameObject(key), value)
            found.append(page)

    visit(reader.root_object["/Pages"].get_object(), None, {}, 0)
    return found


if __name__ == "__main__":
    _child(*(int(arg) for arg in sys.argv[1:5]))
