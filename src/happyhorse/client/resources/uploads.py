"""``client.uploads``: upload an image once, use its ``upload_id`` in many jobs."""

from __future__ import annotations

from happyhorse.client._base_client import RequestOptions, new_idempotency_key, parse_response
from happyhorse.client._files import FileInput, FileToUpload, file_to_upload
from happyhorse.client._models import Upload
from happyhorse.client._resource import AsyncAPIResource, SyncAPIResource


def _create_options(file: FileInput | FileToUpload) -> RequestOptions:
    upload = file if isinstance(file, FileToUpload) else file_to_upload(file)
    return RequestOptions("POST", "/v1/uploads", files=upload.as_multipart(), idempotency_key=new_idempotency_key())


class Uploads(SyncAPIResource):
    """Images stored on the server for this account."""

    def create(self, file: FileInput) -> Upload:
        """Upload one image (a path, bytes, a binary file object or a PIL image).

        The server checks it against the image rules now (JPEG/PNG/WEBP/BMP, ≤ 10 MB,
        sides ≥ 300 px, aspect 1:2.5-2.5:1) and answers 400 if it breaks one."""
        return parse_response(Upload, self._client.request(_create_options(file)))

    def retrieve(self, upload_id: str) -> Upload:
        """An upload's metadata."""
        return parse_response(Upload, self._client.request(RequestOptions("GET", f"/v1/uploads/{upload_id}")))


class AsyncUploads(AsyncAPIResource):
    """Images stored on the server for this account (async)."""

    async def create(self, file: FileInput) -> Upload:
        """Upload one image; see :meth:`Uploads.create`."""
        return parse_response(Upload, await self._client.request(_create_options(file)))

    async def retrieve(self, upload_id: str) -> Upload:
        """An upload's metadata."""
        return parse_response(Upload, await self._client.request(RequestOptions("GET", f"/v1/uploads/{upload_id}")))
