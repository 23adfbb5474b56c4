"""Development server: `python -m webapp [--host 127.0.0.1] [--port 8080]` (settings from the environment, see
webapp/config.py). For production use gunicorn:
gunicorn -c python:webapp.gunicorn_conf -w 2 -b 0.0.0.0:8080 'webapp:create_app()'."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from data import project
from webapp import create_app


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m webapp", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=project.LOG_FORMAT)
    # SIGTERM (how `make stop` and the local deploy stop it) exits as Ctrl-C does, so that what the process keeps
    # for its life (files.scratch_dir: a gs:// issue file's local copy) is removed; by default it would die at once
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    create_app({"warm": True}).run(host=args.host, port=args.port, debug=False, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
