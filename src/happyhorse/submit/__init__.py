"""Accepting a job: the request checked against the model's rules (``request``),
the ``Idempotency-Key`` claim (``idempotency``), the per-account queued cap
(``queued_cap``), and the one submit transaction (``service``)."""
