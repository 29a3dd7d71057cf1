"""Proof documents: what an upload is (judged by its bytes), how it is named, stored and sent back,
and how uploads that no license uses are bounded and purged."""
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, replace

from flask import send_file
from peewee import fn

from ..accounts.models import Account
from ..core.database import on_postgresql, write_transaction
from ..core.filters import filesize
from .document_check import clean_text
from .document_text import (
    NO_TEXT,
    READ,
    UNCHECKED,
    UNREADABLE,
    DocumentText,
    Preview,
    read_document,
    render_preview,
)
from .models import LicenseVersion, ProofDocument, ProofPreview
from .reading import ReadingBusy, one_at_a_time  # noqa: F401 - with_text() raises ReadingBusy: callers catch it from here

# (leading bytes, media type) of the formats a proof may be in.
SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
ACCEPT = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"
# The file name extensions of each type, the first being the one a download gets.
EXTENSIONS = {"application/pdf": (".pdf",), "image/png": (".png",), "image/jpeg": (".jpg", ".jpeg")}


class UploadRefused(ValueError):
    """The upload is not a proof we can keep; the message says why and what to do."""


@dataclass(frozen=True)
class Upload:
    content: bytes
    media_type: str
    original_name: str
    # Its text as read by with_text(); None: not read (stored as unchecked).
    text: DocumentText | None = None

    @property
    def sha256(self):
        return hashlib.sha256(self.content).hexdigest()


def sniff_media_type(content):
    """The media type the content really is, among PDF, PNG and JPEG, or None."""
    for signature, media_type in SIGNATURES:
        if content.startswith(signature):
            return media_type
    return None


def clean_filename(name):
    """The last path component of a client's file name, without control characters, at most 255 chars."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return name[-255:] or "proof"


def served_name(original_name, media_type):
    """The name a proof downloads under: its extension follows the type judged by the content.

    A PDF uploaded as proof.html downloads as proof.pdf, so the customer's system opens it as what it
    is; a name with no extension gets one. A name that already fits (scan.JPEG for a JPEG) is kept.
    """
    extensions = EXTENSIONS.get(media_type)
    if not extensions:
        return original_name
    stem, dot, suffix = original_name.rpartition(".")
    if dot and stem:
        if f".{suffix}".lower() in extensions:
            return original_name
        if re.fullmatch(r"[A-Za-z0-9]{1,8}", suffix):
            original_name = stem
    return original_name + extensions[0]


def read_upload(file_storage, max_bytes):
    """Check an uploaded file by its content and size; raise UploadRefused with the reason."""
    content = file_storage.stream.read(max_bytes + 1)
    if not content:
        raise UploadRefused("The file is empty. Choose the PDF, PNG or JPEG of your proof of licensing.")
    if len(content) > max_bytes:
        raise UploadRefused(
            f"The file is larger than {filesize(max_bytes)}. "
            "Save the proof as a smaller PDF, PNG or JPEG and choose it again."
        )
    media_type = sniff_media_type(content)
    if media_type is None:
        raise UploadRefused(
            "This file is not a PDF, PNG or JPEG (judged by its content, not its name). "
            "Export or print the Office 365 page to PDF, or take a PNG or JPEG screenshot."
        )
    return Upload(content, media_type, clean_filename(file_storage.filename))


def with_text(upload, limits, account_id=None):
    """The upload with its text read within `limits` (webapp.licenses.document_text); call it outside any transaction.

    A request passes the account the upload is for: its documents are read one at a time, across
    every worker and server, and ReadingBusy (before anything is read) says another one is being
    read right now. A command (the demo data) passes none. Apart from ReadingBusy it never raises:
    whatever goes wrong is recorded as "could not be read" and the upload goes on.
    """
    if account_id is None:
        return replace(upload, text=_read(upload, limits))
    with one_at_a_time(account_id, limits.seconds):
        return replace(upload, text=_read(upload, limits))


def _read(upload, limits):
    try:
        read = read_document(upload.content, upload.media_type, limits)
        text = clean_text(read.text, limits.chars)
        if read.status == READ and not text.strip():
            # Text that was nothing but control characters is no text to check.
            return replace(read, status=NO_TEXT, text="")
        return replace(read, text=text)
    except Exception:  # noqa: BLE001 - the check must never cost the customer their upload
        return DocumentText(UNREADABLE)


def store_upload(upload, account, user):
    """Save an upload as a proof document of the account, with what with_text() read of it, if it did."""
    text = upload.text or DocumentText(UNCHECKED)
    document = ProofDocument.create(
        account=account,
        content=upload.content,
        sha256=upload.sha256,
        size=len(upload.content),
        original_name=upload.original_name,
        media_type=upload.media_type,
        uploaded_by=user,
        text_status=text.status,
        extracted_text=text.text,
        active_content=",".join(text.active),
    )
    if text.status != UNCHECKED:
        keep_preview(document.id, text.preview)
    return document


def read_kept(document, limits, account_id):
    """Read a kept upload that was stored unread (its form was refused before anything was read), as
    with_text() reads a new one, and record what it says; ReadingBusy as with_text(). A document read
    already is left as it is."""
    if document.text_status != UNCHECKED:
        return
    content = ProofDocument.select(ProofDocument.content).where(
        (ProofDocument.id == document.id) & (ProofDocument.account == account_id)).scalar()
    if content is None:
        return
    text = with_text(Upload(bytes(content), document.media_type, document.original_name), limits, account_id).text
    ProofDocument.update(text_status=text.status, extracted_text=text.text, active_content=",".join(text.active)).where(
        (ProofDocument.id == document.id) & (ProofDocument.account == account_id)).execute()
    keep_preview(document.id, text.preview)


def keep_preview(document_id, preview):
    """Store a document's preview, or (None) that none could be made; a preview already stored stays."""
    columns = {"content": b"", "media_type": "", "width": 0, "height": 0}
    if preview is not None:
        columns = {"content": preview.content, "media_type": preview.media_type, "width": preview.width,
                   "height": preview.height}
    ProofPreview.insert(document=document_id, **columns).on_conflict_ignore().execute()


# --- uploads no license uses ----------------------------------------------------------------


def unused():
    """SQL: no license version, of any account, uses the proof document."""
    return ~fn.EXISTS(LicenseVersion.select(LicenseVersion.id).where(LicenseVersion.proof == ProofDocument.id))


@dataclass(frozen=True)
class Allowance:
    """How many uploads that no license uses an account may hold, how many bytes, and for how long."""

    count: int
    size: int
    hours: float

    def exceeded_by(self, held_count, held_bytes, new_size):
        """True when keeping one more upload of `new_size` bytes would pass the allowance."""
        return held_count + 1 > self.count or held_bytes + new_size > self.size


def keep_upload(upload, account_id, user_id, allowance, replaces=None):
    """Store the valid upload of a form that failed, so the user need not choose it again.

    It takes the place of the upload the form kept from an earlier try (`replaces`). Past the
    account's allowance it raises UploadRefused and stores nothing.
    """
    with write_transaction():
        if on_postgresql():
            # One account's requests take turns here, so two cannot both take the last place.
            list(Account.select(Account.id).where(Account.id == account_id).for_update("FOR NO KEY UPDATE"))
        if replaces is not None:
            discard_unattached(account_id, replaces.id)
        held_count, held_bytes = (
            ProofDocument.select(fn.COUNT(ProofDocument.id), fn.COALESCE(fn.SUM(ProofDocument.size), 0))
            .where((ProofDocument.account == account_id) & unused())
            .tuples()
            .get()
        )
        if allowance.exceeded_by(held_count, held_bytes, len(upload.content)):
            raise UploadRefused(
                f"This file was not stored: your account already holds {held_count} "
                f"{'upload' if held_count == 1 else 'uploads'} ({filesize(held_bytes)}) from forms that were "
                "not saved, the most it may keep. Correct the fields marked below, then choose the file again "
                f"and Save. Uploads that no license uses are deleted after {allowance.hours:g} hours."
            )
        return store_upload(upload, account_id, user_id)


def _delete_unused(candidates):
    """Delete what `candidates` (a select of id and size) names and no version uses.

    Returns the ids it took and {id: size} of those it deleted. Call inside write_transaction(): on
    SQLite that holds the one write lock, so no Save can attach a document in between. On
    PostgreSQL a Save attaching a document holds a key-share lock on it from its check or insert
    until it commits: SKIP LOCKED leaves those alone, and the rows taken stay locked, so no Save can
    attach them until this transaction ends.
    """
    if on_postgresql():
        candidates = candidates.for_update(skip_locked=True)
    sizes = dict(candidates.where(unused()).tuples())
    if not sizes:
        return [], {}
    # Checked again in the DELETE itself: a Save may have committed after the SELECT took its snapshot.
    deleted = ProofDocument.delete().where(ProofDocument.id.in_(list(sizes)) & unused()).execute()
    gone = dict(sizes)
    if deleted < len(sizes):
        for (row_id,) in ProofDocument.select(ProofDocument.id).where(ProofDocument.id.in_(list(sizes))).tuples():
            del gone[row_id]
    return sorted(sizes), gone


def discard_unattached(account_id, document_id):
    """Delete an upload of the account that no license uses (one its user replaced); True if it went."""
    with write_transaction():
        _, deleted = _delete_unused(
            ProofDocument.select(ProofDocument.id, ProofDocument.size).where(
                (ProofDocument.id == document_id) & (ProofDocument.account == account_id)
            )
        )
    return bool(deleted)


def purge_unattached(uploaded_before, batch_size=100):
    """Delete every upload that no license version uses and was uploaded before the cutoff; returns (count, bytes).

    Batch by batch, each in a short transaction; two purges at once share the work.
    """
    count = size = 0
    after = 0
    while True:
        with write_transaction():
            taken, deleted = _delete_unused(
                ProofDocument.select(ProofDocument.id, ProofDocument.size)
                .where((ProofDocument.id > after) & (ProofDocument.uploaded_at < uploaded_before))
                .order_by(ProofDocument.id)
                .limit(batch_size)
            )
        if not taken:
            return count, size
        after = taken[-1]
        count, size = count + len(deleted), size + sum(deleted.values())


# --- previews for staff -------------------------------------------------------------------------


def preview_of(document_id, limits):
    """The document's preview (a Preview), or None when there is none; made and kept at its first view
    if the document was stored before previews were (one child process, within `limits`, once)."""
    row = ProofPreview.get_or_none(ProofPreview.document == document_id)
    if row is None:
        document = ProofDocument.select(ProofDocument.content, ProofDocument.media_type).where(
            ProofDocument.id == document_id).first()
        if document is None:
            return None
        keep_preview(document_id, render_preview(bytes(document.content), document.media_type, limits))
        row = ProofPreview.get(ProofPreview.document == document_id)
    if not row.exists:
        return None
    return Preview(bytes(row.content), row.media_type, row.width, row.height)


def send_preview(document_id, preview):
    """A preview image, shown inline: an image Pillow wrote, never the customer's own bytes."""
    extension = ".png" if preview.media_type == "image/png" else ".jpg"
    response = send_file(
        io.BytesIO(preview.content),
        mimetype=preview.media_type,
        as_attachment=False,
        download_name=f"preview-{document_id}{extension}",
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # A customer's document, as every signed-in answer: kept by no browser or proxy.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def send_proof(document):
    """The document as a download, never rendered inline."""
    response = send_file(
        io.BytesIO(bytes(document.content)),
        mimetype=document.media_type,
        as_attachment=True,
        download_name=served_name(document.original_name, document.media_type),
        etag=document.sha256,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
