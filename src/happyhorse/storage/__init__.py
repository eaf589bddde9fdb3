"""Where outputs live, and the signed, expiring URLs that let clients read them.

:class:`Storage` is the protocol; :class:`LocalStorage` (a directory, the
default), :class:`S3Storage` (a bucket, for a fleet; needs the ``s3`` extra)
and :class:`MemoryStorage` (the fake for tests) implement it.
:class:`UrlSigner` makes and checks the ``/files/<key>?expires=..&sig=..``
URLs that :mod:`happyhorse.api.files` serves.
"""

from happyhorse.storage.base import ListedObject, ObjectNotFound, Storage, StoredObject, checked_storage_key
from happyhorse.storage.local import LocalStorage
from happyhorse.storage.memory import MemoryStorage
from happyhorse.storage.s3 import S3Storage, S3Unavailable
from happyhorse.storage.signing import (
    SignatureError,
    SignatureExpired,
    SignatureInvalid,
    UrlSigner,
)

__all__ = [
    "ListedObject",
    "LocalStorage",
    "MemoryStorage",
    "ObjectNotFound",
    "S3Storage",
    "S3Unavailable",
    "SignatureError",
    "SignatureExpired",
    "SignatureInvalid",
    "Storage",
    "StoredObject",
    "UrlSigner",
    "checked_storage_key",
]
