"""Money (SPEC §7): credits, holds, the ledger and idempotent submits.

- :mod:`~happyhorse.billing.money`: ``Decimal`` amounts, exact sums, rendering;
- :mod:`~happyhorse.billing.ledger`: the append-only ledger; balance = sum of entries;
- :mod:`~happyhorse.billing.holds`: a hold per job, taken at submit, captured or released once;
- :mod:`~happyhorse.billing.usage`: the ``usage`` of a job, from its hold;
- :mod:`~happyhorse.submit.idempotency`: ``Idempotency-Key`` on submit;
- :mod:`~happyhorse.billing.account`: what ``GET /v1/account`` shows.

Prices live in :mod:`happyhorse.billing.pricing`.
"""
