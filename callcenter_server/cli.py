"""Operator commands: `python -m callcenter_server serve|migrate|demo-seed|import`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from . import __version__
from .app import Settings, build_center, create_app, default_db_url
from .asterisk import AsteriskPbx, PbxOptions
from .cluster import ClusterPbx
from .db.engine import make_engine, migrate, session_factory
from .provision import ProvisioningError, apply_document, demo_document
from .security import Passwords

log = logging.getLogger("callcenter.cli")


def _apply(db_url: str, doc: Any) -> dict[str, int]:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as db:
            counts = apply_document(db, doc, Passwords())
            db.commit()
            return counts
    finally:
        engine.dispose()


def load_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callcenter_server", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--db", default=None,
                        help="database URL (sqlite:///path or postgresql://…); default: a SQLite "
                             "file in the user's data folder")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                       help="proxies whose X-Forwarded-For is believed (client IPs matter for "
                            "self-adapting devices and rate limits)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--ami", metavar="HOST:PORT",
                       help="drive this Asterisk over AMI (queues, devices, calls, billing)")
    serve.add_argument("--ami-user", default="callcenter")
    serve.add_argument("--ami-secret-env", default="CALLCENTER_AMI_SECRET", metavar="VAR",
                       help="environment variable holding the AMI secret (never a flag: flags "
                            "show in the process list)")
    serve.add_argument("--pbx-config-dir", type=Path,
                       help="the PBX's generated/ folder: devices, dial plan and queues are "
                            "written there and reloaded")
    serve.add_argument("--pstn-dial", default="PJSIP/{number}@pstn",
                       help="Asterisk dial string for outside numbers ({number} is replaced)")
    sub.add_parser("migrate", help="create or upgrade the schema")
    sub.add_parser("demo-seed", help="load the demo call center (every password: demo)")
    imp = sub.add_parser("import", help="create/update teams, accounts, devices, groups and "
                                        "agents from a YAML or JSON file")
    imp.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    db_url = args.db or default_db_url()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.command == "serve":
        import uvicorn

        settings = Settings(db_url=db_url)
        center = build_center(settings)
        if args.ami:
            host, _, port = args.ami.rpartition(":")
            options = PbxOptions(
                host=host or "127.0.0.1", port=int(port), username=args.ami_user,
                secret=os.environ.get(args.ami_secret_env, ""),
                config_dir=args.pbx_config_dir, pstn_dial=args.pstn_dial)
            if center.shared:
                # Several instances may share the database: only the owner of the AMI lock
                # connects (docs/deployment.md).
                center.pbx = ClusterPbx(center, lambda: AsteriskPbx(center, options),
                                        retry_after_s=options.retry_after_s)
            else:
                center.pbx = AsteriskPbx(center, options)
        app = create_app(settings, center=center)

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                # End the open event streams first: uvicorn waits for every connection to
                # finish before the app's shutdown runs, and a stream never finishes alone.
                center.bus.close()
                super().handle_exit(sig, frame)

        config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                                proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips,
                                timeout_graceful_shutdown=3)
        Server(config).run()
        return 0
    if args.command == "migrate":
        migrate(db_url)
        print("schema is up to date")
        return 0
    try:
        if args.command == "demo-seed":
            doc = demo_document()
        else:
            try:
                doc = load_document(args.file)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
                return 2
        counts = _apply(db_url, doc)
    except ProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("applied: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0
