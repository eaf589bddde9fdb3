"""Webhooks (SPEC §10): endpoints per account, the outbox written in a job's ending
transaction, Standard Webhooks signing, and the delivery loop with its retries."""

from __future__ import annotations

from happyhorse.webhooks.delivery import Deliverer, RetryPolicy
from happyhorse.webhooks.outbox import ending_hooks, record_webhook_event

__all__ = ["Deliverer", "RetryPolicy", "ending_hooks", "record_webhook_event"]
