"""Turning what a caller passes as ``image`` into what the API accepts.

The API takes image *references*: an ``http(s)://`` URL, a ``data:image/...``
URI, or an ``upload_id``. Everything else (a local path, bytes, a file object,
a PIL image) is uploaded first through ``POST /v1/uploads`` and replaced by its
``upload_id``. PIL is never imported here: a PIL image is recognised by its
type's module and saved through its own ``save`` method.
"""

from __future__ import annotations

import io
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from happyhorse.client._models import Upload

ImageInput = Union[str, "os.PathLike[str]", bytes, IO[bytes], "PILImage", "Upload"]
"""One image: a URL, data URI, upload id, local path, bytes, binary file object, PIL image or Upload."""

FileInput = Union[str, "os.PathLike[str]", bytes, IO[bytes], "PILImage"]
"""What ``uploads.create`` takes: a local path, bytes, a binary file object or a PIL image."""

_UPLOAD_ID = re.compile(r"^upload_[0-9a-zA-Z]+$")
# PIL modes PNG can store as they are; others (CMYK, YCbCr, float…) are converted to RGB first.
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


@dataclass(frozen=True)
class FileToUpload:
    """Bytes to send as the multipart part ``file`` of ``POST /v1/uploads``."""

    filename: str
    content: bytes
    content_type: str

    def as_multipart(self) -> dict[str, tuple[str, bytes, str]]:
        return {"file": (self.filename, self.content, self.content_type)}


def image_reference_or_file(item: ImageInput) -> str | FileToUpload:
    """A reference the API understands as it is, or the file to upload in its place.

    A string is a URL (``http://``/``https://``), a data URI (``data:``), an upload
    id (``upload_...``) or else a local path, which must exist."""
    upload_id = getattr(item, "upload_id", None)
    if isinstance(upload_id, str):
        return upload_id
    if isinstance(item, str):
        if item.startswith(("http://", "https://", "data:")) or (_UPLOAD_ID.match(item) and not os.path.exists(item)):
            return item
    return file_to_upload(item)  # type: ignore[arg-type]


def file_to_upload(item: FileInput) -> FileToUpload:
    """The bytes, file name and content type of a path, bytes, file object or PIL image."""
    if isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path} (pass a URL, data URI, upload id or an existing file)")
        content = path.read_bytes()
        return FileToUpload(path.name, content, _content_type(content, path.name))
    if isinstance(item, (bytes, bytearray, memoryview)):
        content = bytes(item)
        return FileToUpload("image" + _extension(content), content, _content_type(content, None))
    if _is_pil_image(item):
        return _pil_to_upload(item)
    if hasattr(item, "read"):
        content = item.read()
        if not isinstance(content, bytes):
            raise TypeError("open image files in binary mode ('rb')")
        name = os.path.basename(str(getattr(item, "name", "") or "")) or "image" + _extension(content)
        return FileToUpload(name, content, _content_type(content, name))
    raise TypeError(
        f"cannot use a {type(item).__name__} as an image: pass a URL, data URI, upload id, path, bytes, "
        "binary file object or PIL image"
    )


def _is_pil_image(item: Any) -> bool:
    # Checked by module name so that PIL is imported only by callers who already use it.
    return type(item).__module__.startswith("PIL.") and callable(getattr(item, "save", None))


def _pil_to_upload(image: Any) -> FileToUpload:
    if image.mode not in _PNG_MODES:
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return FileToUpload("image.png", buffer.getvalue(), "image/png")


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"BM", "image/bmp", ".bmp"),
)


def _sniff(content: bytes) -> tuple[str, str] | None:
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp", ".webp"
    for magic, content_type, extension in _SIGNATURES:
        if content.startswith(magic):
            return content_type, extension
    return None


def _content_type(content: bytes, name: str | None) -> str:
    sniffed = _sniff(content)
    if sniffed:
        return sniffed[0]
    guessed = mimetypes.guess_type(name)[0] if name else None
    return guessed or "application/octet-stream"


def _extension(content: bytes) -> str:
    sniffed = _sniff(content)
    return sniffed[1] if sniffed else ""
