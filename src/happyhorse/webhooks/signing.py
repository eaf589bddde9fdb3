"""Standard Webhooks signing: ``whsec_`` secrets and the three ``webhook-*`` headers.

The HMAC itself is the ``standardwebhooks`` package's (never hand-rolled): what
``openai``'s ``webhooks.verify_signature`` and ``standardwebhooks.Webhook.verify``
check on the receiving side.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timezone

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers of ``body``."""
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(message_id, when, body),
    }
