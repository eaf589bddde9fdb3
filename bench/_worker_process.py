"""``happyhorse worker`` on the preview engine, with LISTEN/NOTIFY wake-ups on or off (for the
same-run baseline of bench/submit_to_claim.py). Everything else is what the command runs.

    python bench/_worker_process.py --data-dir D --database-url URL [--no-listen]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from happyhorse.cli.server import _configure_logging, _install_shutdown
from happyhorse.engines import load_engine
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.worker import Worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--no-listen", action="store_true", help="poll only (the behaviour before wake-ups)")
    args = parser.parse_args()
    _configure_logging()
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, signing_secret="bench")
    worker = Worker(Runtime.open(settings, migrate=False), load_engine("preview", {}), listen=not args.no_listen)
    _install_shutdown(worker, 5.0)
    worker.run()


if __name__ == "__main__":
    main()
