"""Proof documents: what an upload is (judged by its bytes), how it is named, stored and sent back."""
import hashlib
import io
import unicodedata
from dataclasses import dataclass

from flask import send_file

from .filters import filesize
from .models import ProofDocument

# (leading bytes, media type) of the formats a proof may be in.
SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
ACCEPT = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"


class UploadRefused(ValueError):
    """The upload is not a proof we can keep; the message says why and what to do."""


@dataclass(frozen=True)
class Upload:
    content: bytes
    media_type: str
    original_name: str

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


def store_upload(upload, account, user):
    """Save an upload as a proof document of the account."""
    return ProofDocument.create(
        account=account,
        content=upload.content,
        sha256=upload.sha256,
        size=len(upload.content),
        original_name=upload.original_name,
        media_type=upload.media_type,
        uploaded_by=user,
    )


def send_proof(document):
    """The document as a download, never rendered inline."""
    response = send_file(
        io.BytesIO(bytes(document.content)),
        mimetype=document.media_type,
        as_attachment=True,
        download_name=document.original_name,
        etag=document.sha256,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
