"""Accepting a job: the request checked against the model's rules (``request``),
the ``Idempotency-Key`` claim (``idempotency``), the per-account queued cap
(``queued_cap``), the modes the deployment's workers serve (``served_modes``),
and the one submit transaction (``service``)."""
