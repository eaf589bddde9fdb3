"""Image inputs: URL, data URI or upload bytes in, checked RGB pixels out.

* :func:`validate_image_url`, :func:`parse_data_uri` - submit-time checks;
* :func:`fetch_url` - the SSRF-safe fetcher the worker uses for image URLs;
* :func:`inspect_image` / :func:`decode_image` - the image rules of SPEC §3
  on the bytes themselves, then pixels for an engine.
"""

from happyhorse.inputs.datauri import is_data_uri, parse_data_uri
from happyhorse.inputs.fetch import (
    FetchedImage,
    FetchError,
    Resolver,
    default_resolver,
    fetch_url,
    validate_image_url,
)
from happyhorse.inputs.images import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MIN_IMAGE_SIDE,
    ImageInfo,
    decode_image,
    inspect_image,
)

__all__ = [
    "FetchError",
    "FetchedImage",
    "ImageInfo",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MIN_IMAGE_SIDE",
    "Resolver",
    "decode_image",
    "default_resolver",
    "fetch_url",
    "inspect_image",
    "is_data_uri",
    "parse_data_uri",
    "validate_image_url",
]
