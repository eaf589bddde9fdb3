"""The API as a process that dies between the job's commit and its response.

Run as a script (``python crashing_api.py --data-dir D --database-url U --port P
--crash-marker F``). It serves the product's app (``create_app`` on a
:class:`~happyhorse.runtime.Runtime`, under uvicorn, as ``happyhorse api``
does). While the file ``F`` exists, the first submit ends the process with
``os._exit`` right after ``submit_generation`` committed the job, its hold and
its idempotency key, and before any response goes out: the worst moment for
a client, which sees a dropped connection and must retry.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

import happyhorse.submit.service as submission
from happyhorse.app import create_app
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings

CRASH_EXIT_CODE = 137


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--crash-marker", type=Path, required=True)
    args = parser.parse_args()

    real_submit = submission.submit_generation

    def submit_then_die(*a, **kw):  # type: ignore[no-untyped-def]
        result = real_submit(*a, **kw)  # committed: job, hold and idempotency key
        if args.crash_marker.exists():
            args.crash_marker.unlink()
            os._exit(CRASH_EXIT_CODE)
        return result

    # submit_idempotent looks the name up in its module at call time.
    submission.submit_generation = submit_then_die
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, signing_secret="chaos",
                        engine="stub")
    app = create_app(Runtime.open(settings, migrate=False))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
