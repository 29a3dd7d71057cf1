"""What an uploaded proof holds, read in a child process that is killed when it overruns: its text
(a PDF's text layer with pypdf, a PNG or JPEG screenshot's by OCR with Tesseract), the active
content a PDF carries (JavaScript, actions, embedded files), and a preview image for staff (a
PDF's first page rendered with pypdfium2, an image scaled down).

A hostile file (a huge content stream, deeply nested objects, a decompression bomb, thousands of
pages, a 30000x30000 image) can keep a reader busy for minutes or take gigabytes, and a Python
thread cannot be stopped. So the bytes go to a fresh interpreter (`python -I` running this file; no
fork of a threaded gunicorn worker, no inherited database connection) in a process group of its
own. It caps its own memory (address space) and CPU time, which the Tesseract process it starts
inherits, reads at most PROOF_TEXT_MAX_PAGES pages and PROOF_TEXT_MAX_CHARS characters, and
prints one JSON line per finished step; the request waits PROOF_TEXT_SECONDS of wall clock, then
kills the whole group and keeps the steps that finished. Whatever goes wrong is a status, never an
exception: the check must never block the customer's upload.

Without the `tesseract` command (a development machine that did not install it), an image's text
"could not be read"; everything else works.

This file imports only the standard library at the top, so the child starts with nothing but what
its steps need.
"""
import base64
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass

# What became of reading a document's text (ProofDocument.text_status, ProofCheck.status).
READ = "read"
NO_TEXT = "no_text"  # a PDF without a text layer (a scan), or an image where OCR found none
UNREADABLE = "unreadable"  # the reader failed, ran out of memory, or the document is encrypted
TIMED_OUT = "timeout"  # killed at PROOF_TEXT_SECONDS
UNCHECKED = "unchecked"  # stored before this check existed, or by a command that does not read it

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"

# Active content a PDF may carry, as recorded (ProofDocument.active_content, comma-separated).
JAVASCRIPT = "javascript"  # /JavaScript, /JS
OPEN_ACTION = "open_action"  # /OpenAction that is an action (not just "open at page 1")
LAUNCH = "launch"  # /Launch: starts a program or opens a file
EMBEDDED_FILE = "embedded_file"  # /EmbeddedFile, /EmbeddedFiles, /EF
ADDITIONAL_ACTIONS = "additional_actions"  # /AA: actions on opening a page, focusing a field...
ACTIVE_KINDS = (JAVASCRIPT, OPEN_ACTION, LAUNCH, EMBEDDED_FILE, ADDITIONAL_ACTIONS)

# The preview staff see: at most this many pixels wide and high, at most 2 pixels per PDF point
# (144 dpi), so a page of any size renders to a bounded image.
PREVIEW_WIDTH = 1000
PREVIEW_HEIGHT = 1400
PREVIEW_MAX_SCALE = 2.0
# An image larger than this (in pixels) is refused before it is decoded: 8K at 100%, 4K at 200%.
IMAGE_MAX_PIXELS = 40_000_000
# OCR reads an image of at most this many pixels (a larger one is scaled down first): OCR time grows
# with the pixels, and a screenshot this large is a big screen at a zoom whose text stays legible.
OCR_MAX_PIXELS = 4_000_000
# Of a PDF, at most this many objects are looked at for active content.
ACTIVE_SCAN_MAX_OBJECTS = 50_000

TEXT, ACTIVE, PREVIEW = "text", "active", "preview"


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
class Preview:
    """A document's preview image (PNG or JPEG bytes) and its size in pixels."""

    content: bytes
    media_type: str
    width: int
    height: int


@dataclass(frozen=True)
class DocumentText:
    """A document as read: its text (raw) and how reading it went, its active content, its preview."""

    status: str
    text: str = ""
    # The ACTIVE_KINDS found in a PDF, in that order; () for an image or when none was found.
    active: tuple = ()
    # None: no preview could be made (or none was asked for).
    preview: Preview | None = None


def read_document(content, media_type, limits, steps=(ACTIVE, TEXT, PREVIEW)):
    """Read a proof document within `limits`: its text, a PDF's active content, a preview; never raises."""
    kind = "pdf" if media_type == PDF else "image" if media_type in (PNG, JPEG) else None
    if kind is None:
        return DocumentText(NO_TEXT)
    if kind == "image":
        steps = tuple(step for step in steps if step != ACTIVE)
    limits_args = [limits.pages, limits.chars, limits.memory_bytes, int(limits.seconds) + 1]
    command = [sys.executable, "-I", os.path.abspath(__file__), kind, ",".join(steps), *map(str, limits_args)]
    results, timed_out = _run_child(command, content, limits.seconds)
    text = results.get(TEXT)
    if isinstance(text, str):
        text = text[: limits.chars]
        status = READ if text.strip() else NO_TEXT
    else:
        status, text = (TIMED_OUT if timed_out else UNREADABLE), ""
    active = results.get(ACTIVE)
    active = tuple(k for k in ACTIVE_KINDS if k in active) if isinstance(active, list) else ()
    return DocumentText(status, text if status == READ else "", active, _preview_of(results.get(PREVIEW)))


def render_preview(content, media_type, limits):
    """Only the preview of a document (one stored before previews were made), within `limits`; None if none."""
    return read_document(content, media_type, limits, steps=(PREVIEW,)).preview


def _run_child(command, content, seconds):
    """({step: result} of the steps the child finished, whether it was killed at `seconds`)."""
    try:
        # A session of its own: on a timeout the whole group goes, Tesseract with it. The readers'
        # warnings go nowhere: a hostile file can make millions of them.
        child = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return {}, False
    timed_out, output = False, b""
    try:
        output, _ = child.communicate(content, timeout=seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(child)
        # What the child printed before it was killed is not lost.
        output, _ = child.communicate()
    except OSError:
        pass  # nothing read: "could not be read"
    finally:
        if child.poll() is None:
            _kill_group(child)
            child.wait()
    results = {}
    for line in output.split(b"\n"):
        try:
            step = json.loads(line)
        except ValueError:
            continue  # the last line, cut off by the kill
        if isinstance(step, dict) and len(step) == 1:
            results.update(step)
    return results, timed_out


def _kill_group(child):
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _preview_of(result):
    if not isinstance(result, dict):
        return None
    try:
        content = base64.b64decode(result["content"], validate=True)
        media_type, width, height = result["media_type"], int(result["width"]), int(result["height"])
    except (KeyError, TypeError, ValueError):
        return None
    if media_type not in (PNG, JPEG) or not content:
        return None
    return Preview(content, media_type, width, height)


# --- in the child ---------------------------------------------------------------------------------


def _child(kind, steps, pages, chars, memory_bytes, cpu_seconds):
    """In the child: read stdin as a PDF or an image, print one {step: result} line per step that finished."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    content = sys.stdin.buffer.read()
    if kind == "pdf":
        work = {ACTIVE: lambda: _active_content(content), TEXT: lambda: _pdf_text(content, pages, chars),
                PREVIEW: lambda: _pdf_preview(content)}
    else:
        image = _LazyImage(content)
        work = {PREVIEW: lambda: _image_preview(image.get()), TEXT: lambda: _image_text(image.get(), chars)}
    for step in steps.split(","):
        try:
            result = work[step]()
        except Exception:  # noqa: BLE001 - MemoryError included: this step failed, the next may not
            continue
        sys.stdout.write(json.dumps({step: result}) + "\n")
        sys.stdout.flush()


def _pdf_text(content, pages, chars):
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ValueError("encrypted")
    parts, length = [], 0
    for page in _first_pages(reader, pages):
        if length >= chars:
            break
        page_text = page.extract_text() or ""
        parts.append(page_text)
        length += len(page_text) + 1
    return "\n".join(parts)[:chars]


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


# PDF names that make content active, written plainly in the file (the fallback when pypdf cannot
# parse it, as lenient readers still might); #xx escapes and object streams need the parser.
_ACTIVE_NAMES = re.compile(rb"/(JavaScript|JS|OpenAction|Launch|EmbeddedFiles?|EF|AA)(?=[\s/<>\[\]()%{}]|$)")
_NAME_KIND = {
    "/JavaScript": JAVASCRIPT, "/JS": JAVASCRIPT, "/OpenAction": OPEN_ACTION, "/Launch": LAUNCH,
    "/EmbeddedFile": EMBEDDED_FILE, "/EmbeddedFiles": EMBEDDED_FILE, "/EF": EMBEDDED_FILE,
    "/AA": ADDITIONAL_ACTIONS,
}


def _active_content(content):
    """The ACTIVE_KINDS a PDF carries: every object looked at with pypdf (bounded), else a plain scan."""
    try:
        return sorted(_active_in_objects(content))
    except Exception:  # noqa: BLE001 - a file pypdf cannot parse is scanned as bytes
        return sorted({_NAME_KIND["/" + name.decode()] for name in _ACTIVE_NAMES.findall(content)})


def _active_in_objects(content):
    import io

    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    reader = PdfReader(io.BytesIO(content))
    if reader.is_encrypted:
        reader.decrypt("")  # names are never encrypted; only strings and streams are
    found = set()

    def visit(node, depth):
        # Direct (inline) values only: every indirect object is visited from the cross-reference table.
        if depth > 32:
            return
        if isinstance(node, DictionaryObject):
            for key, value in node.items():
                if key in ("/JS", "/JavaScript", "/AA", "/EmbeddedFiles", "/EF"):
                    found.add(_NAME_KIND[key])
                elif key == "/S" and value in ("/JavaScript", "/Launch"):
                    found.add(_NAME_KIND[value])
                elif key == "/Type" and value == "/EmbeddedFile":
                    found.add(EMBEDDED_FILE)
                elif key == "/OpenAction":
                    # A destination ([page /Fit]: where the document opens) is no action; a dictionary is.
                    target = value.get_object() if isinstance(value, IndirectObject) else value
                    if isinstance(target, DictionaryObject):
                        found.add(OPEN_ACTION)
                if not isinstance(value, IndirectObject):
                    visit(value, depth + 1)
        elif isinstance(node, ArrayObject):
            for value in node:
                if not isinstance(value, IndirectObject):
                    visit(value, depth + 1)

    visit(reader.trailer, 0)
    numbers = {(0, idnum) for idnum in reader.xref_objStm}
    numbers |= {(generation, idnum) for generation, table in reader.xref.items() for idnum in table}
    for generation, idnum in sorted(numbers)[:ACTIVE_SCAN_MAX_OBJECTS]:
        try:
            node = reader.get_object(IndirectObject(idnum, generation, reader))
        except Exception:  # noqa: BLE001 - one broken object does not hide the others
            continue
        visit(node, 0)
    return found


def _pdf_preview(content):
    import pypdfium2

    document = pypdfium2.PdfDocument(content)
    try:
        page = document[0]
        width, height = page.get_size()
        if not (width > 0 and height > 0):
            raise ValueError("a page without a size")
        scale = min(PREVIEW_WIDTH / width, PREVIEW_HEIGHT / height, PREVIEW_MAX_SCALE)
        image = page.render(scale=scale, may_draw_forms=False).to_pil()
    finally:
        document.close()
    return _encoded(image, "PNG")


class _LazyImage:
    """The upload decoded once, for the steps that need it; a refusal is raised to each of them."""

    def __init__(self, content):
        self.content, self.image, self.error = content, None, None

    def get(self):
        if self.error is None and self.image is None:
            try:
                self.image = _decode_image(self.content)
            except Exception as error:  # noqa: BLE001 - raised again below, to each step
                self.error = error
        if self.error is not None:
            raise self.error
        return self.image


def _decode_image(content):
    """The PNG or JPEG decoded, refused before decoding when larger than IMAGE_MAX_PIXELS or not whole."""
    import io
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = IMAGE_MAX_PIXELS
    # Past the limit Pillow only warns (past twice the limit it raises): refuse it either way.
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    image = Image.open(io.BytesIO(content), formats=("PNG", "JPEG"))
    image.load()  # a truncated file raises here
    return image


def _image_preview(image):
    preview = image.convert("RGB")
    preview.thumbnail((PREVIEW_WIDTH, PREVIEW_HEIGHT))
    return _encoded(preview, "PNG" if image.format == "PNG" else "JPEG")


def _encoded(image, image_format):
    import io

    out = io.BytesIO()
    if image_format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=80)
    else:
        image.save(out, "PNG")
    return {"content": base64.b64encode(out.getvalue()).decode("ascii"), "media_type": f"image/{image_format.lower()}",
            "width": image.width, "height": image.height}


def _image_text(image, chars):
    """The screenshot's text by OCR (the `tesseract` command), laid out for the document check."""
    import io
    import shutil

    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise RuntimeError("no OCR engine installed")
    gray = image.convert("L")
    if gray.width * gray.height > OCR_MAX_PIXELS:
        scale = (OCR_MAX_PIXELS / (gray.width * gray.height)) ** 0.5
        gray = gray.resize((max(1, int(gray.width * scale)), max(1, int(gray.height * scale))))
    png = io.BytesIO()
    gray.save(png, "PNG")
    # One thread: with more, OpenMP's waiting threads cost 2-3x the time on a busy machine.
    finished = subprocess.run(
        [tesseract, "stdin", "stdout", "--psm", "3", "-l", "eng", "tsv"], input=png.getvalue(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_THREAD_LIMIT": "1"}, check=True,
    )
    return ocr_layout(finished.stdout.decode("utf-8", "replace"))[:chars]


# --- the OCR's words laid out as text -----------------------------------------------------------


@dataclass(frozen=True)
class _Phrase:
    text: str
    left: int
    top: int
    right: int
    bottom: int

    @property
    def height(self):
        return self.bottom - self.top


def ocr_layout(tsv):
    """Tesseract's words (its TSV output) as text for the document check; see lay_out()."""
    lines = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue
        try:
            key = tuple(int(c) for c in cells[1:5])
            left, top, width, height = (int(c) for c in cells[6:10])
        except ValueError:
            continue
        lines.setdefault(key, []).append((cells[11].strip(), left, top, left + width, top + height))
    return lay_out(list(lines.values()))


def lay_out(lines):
    """An OCR engine's lines of words, each (text, left, top, right, bottom), as text: the lines, then
    each label read with the value under it.

    A screenshot lays fields out as a label with its value below ("Licenses" over "25", a table's
    column header over its first cell) or wraps a long value ("northwind-" over
    "traders.onmicrosoft.com"); read line by line, label and value end up far apart. So after the
    lines come the stacked pairs, one per line: "Licenses 25", "northwind-traders.onmicrosoft.com".
    """
    lines = [[_Phrase(*word) for word in words] for words in lines]
    phrases = [phrase for words in lines for phrase in _phrases(words)]
    text = ["  ".join(phrase.text for phrase in _phrases(words)) for words in lines]
    return "\n".join(text + _stacked(phrases))


def _phrases(words):
    """A line's words grouped into phrases: a gap wider than the words' height separates two columns."""
    phrases, current = [], []
    for word in sorted(words, key=lambda w: w.left):
        if current and word.left - current[-1].right > max(w.height for w in current + [word]) * 1.2:
            phrases.append(current)
            current = []
        current.append(word)
    if current:
        phrases.append(current)
    return [
        _Phrase(" ".join(w.text for w in group), min(w.left for w in group), min(w.top for w in group),
                max(w.right for w in group), max(w.bottom for w in group))
        for group in phrases
    ]


def _stacked(phrases):
    """"upper lower" for each phrase with another right under it, left-aligned; a hyphen at the end joins."""
    pairs = []
    for upper in phrases:
        below = [
            lower for lower in phrases
            if lower is not upper
            # From a wrapped line (whose boxes may overlap a little) to a table's first row under its header.
            and -0.5 * min(upper.height, lower.height) <= lower.top - upper.bottom <= 2 * max(upper.height, lower.height)
            and abs(lower.left - upper.left) <= max(upper.height, lower.height)
        ]
        if below:
            lower = min(below, key=lambda phrase: phrase.top)
            joiner = "" if upper.text.endswith("-") else " "
            pairs.append(upper.text + joiner + lower.text)
    return pairs


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], *(int(arg) for arg in sys.argv[3:7]))
