"""The submit tests share the billing tests' fixtures: a runtime, funded accounts, submits."""

from __future__ import annotations

from ..billing.conftest import NewAccount, count_rows, new_account, runtime, submit_job  # noqa: F401
