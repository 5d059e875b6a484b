"""The whole product on one machine, no Docker: ``python -m cti.stack up|down|status``.

``up`` starts, on loopback, Asterisk 22 with the shipped configuration, a PostgreSQL
cluster (migrated), and the CTI service; it prints where each listens and an admin token
the first time. Everything lives under the stack directory (``CTI_STACK_DIR``, default
``/var/lib/cti`` as root, else ``./var/stack``): the PostgreSQL data, Asterisk's
configuration, spool (recordings, voicemail) and logs, the service log, and ``stack.json``
recording what runs, so that ``down`` stops it cleanly from another shell.

Ports (override with the environment): SIP ``CTI_STACK_SIP_PORT`` (5060), AMI
``CTI_STACK_AMI_PORT`` (5038), API ``CTI_STACK_API_PORT`` (8080), PostgreSQL
``CTI_STACK_PG_PORT`` (55432).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from cti.stack.asterisk import AsteriskInstance, AsteriskStartError, Installation, provision
from cti.stack.ports import free_port_range, port_taken
from cti.stack.postgres import PostgresCluster
from cti.stack.render import (
    AsteriskParams,
    CelDatabase,
    default_seats,
    generated_defaults,
    render,
    write_config,
)

PRODUCT_WRAPUP_SECONDS = 10


def stack_dir() -> Path:
    default = "/var/lib/cti" if os.geteuid() == 0 else "var/stack"
    return Path(os.environ.get("CTI_STACK_DIR", default)).resolve()


def chroot_instance_dir(stack: Path) -> PurePosixPath:
    """Where, inside the cached Asterisk root, this stack's Asterisk keeps its files. One
    per stack directory: two stacks (another CTI_STACK_DIR) must not share recordings,
    voicemail and spool. The default directory keeps the name it always had."""
    if stack == Path("/var/lib/cti"):
        return PurePosixPath("/var/lib/cti-instances/product")
    digest = hashlib.sha256(str(stack).encode()).hexdigest()[:12]
    return PurePosixPath(f"/var/lib/cti-instances/product-{digest}")


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"CTI_STACK_{name}_PORT", default))


def _state_file() -> Path:
    return stack_dir() / "stack.json"


def _load_state() -> dict[str, object]:
    path = _state_file()
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(state: dict[str, object]) -> None:
    _state_file().write_text(json.dumps(state, indent=2))


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _asterisk(installation: Installation, state: dict[str, object],
              pg: PostgresCluster) -> AsteriskInstance:
    secret = str(state.get("ami_secret") or secrets.token_urlsafe(18))
    state["ami_secret"] = secret
    if installation.root is None:
        instance_dir = PurePosixPath(stack_dir() / "asterisk")
    else:
        instance_dir = chroot_instance_dir(stack_dir())
    rtp_start, rtp_end = free_port_range(400)
    params = AsteriskParams(
        instance_dir=instance_dir,
        sip_port=_port("SIP", 5060),
        ami_port=_port("AMI", 5038),
        rtp_start=rtp_start,
        rtp_end=rtp_end,
        ami_secret=secret,
        seats=default_seats(),
        wrapup_seconds=PRODUCT_WRAPUP_SECONDS,
        cel_database=pg.cel_database(),
    )
    return AsteriskInstance(installation, params)


def up() -> int:
    root = stack_dir()
    root.mkdir(parents=True, exist_ok=True)
    state = _load_state()
    if _alive(state.get("service_pid")):
        print(f"already running: {state.get('api')}", file=sys.stderr)
        return 0

    pg = PostgresCluster(root / "postgres", port=_port("PG", 55432))
    pg.start()
    state["pg_port"] = pg.port
    from cti.db.migrate import upgrade

    upgrade(pg.url)

    installation = provision()
    # A start whose service then failed leaves its Asterisk up: a second one would not get
    # the ports, and the service would talk to the first, which `down` no longer knew.
    _stop_asterisk(state)
    asterisk = _asterisk(installation, state, pg)
    api_port = _port("API", 8080)
    if port_taken(api_port):
        print(f"the API port 127.0.0.1:{api_port} is already in use (another stack?): set "
              "CTI_STACK_API_PORT", file=sys.stderr)
        return 1
    try:
        asterisk.start()
    except AsteriskStartError as exc:
        print(f"Asterisk did not start: {exc}; another stack's ports? set CTI_STACK_SIP_PORT "
              "and CTI_STACK_AMI_PORT", file=sys.stderr)
        return 1
    state["asterisk_pid"] = asterisk.pid
    state["asterisk_command"] = installation.command("-rx", "core stop now", "-C",
                                                     str(asterisk.config_file))
    _save_state(state)

    p = asterisk.params
    env = {
        **os.environ,
        "CTI_DATABASE__URL": pg.url,
        "CTI_API__PORT": str(api_port),
        "CTI_AMI__NODES": json.dumps([{"name": "node1", "host": "127.0.0.1",
                                       "port": p.ami_port, "username": p.ami_username,
                                       "secret": p.ami_secret}]),
        "CTI_TELEPHONY__WRAPUP_SECONDS": str(PRODUCT_WRAPUP_SECONDS),
        "CTI_HISTORY__SPILL_DIR": str(root / "history-spill"),
        **asterisk.files_env(),
    }
    if "admin_token" not in state:
        out = subprocess.run([sys.executable, "-m", "cti", "token", "create", "--user", "admin",
                              "--role", "admin", "--name", "stack"], env=env, check=True,
                             capture_output=True, text=True)
        state["admin_token"] = out.stdout.strip().splitlines()[-1]
    with open(root / "service.log", "ab") as log:
        service = subprocess.Popen([sys.executable, "-m", "cti", "serve"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    state["service_pid"] = service.pid
    state["api"] = f"http://127.0.0.1:{api_port}"
    _save_state(state)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.poll() is not None:
            print(f"the service exited; see {root / 'service.log'}", file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(f"{state['api']}/readyz", timeout=1) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    else:
        print(f"the service is not ready after 60 s; see {root / 'service.log'}",
              file=sys.stderr)
        return 1
    print(f"""CTI stack is up (state in {root}):
  API        {state['api']}   (docs: {state['api']}/docs)
  admin token {state['admin_token']}
  Asterisk   SIP 127.0.0.1:{p.sip_port}  AMI 127.0.0.1:{p.ami_port}  (seats 1001-1004)
  PostgreSQL {pg.url}
Stop it with: scripts/stop""")
    return 0


def _wait_gone(pid: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def _stop_asterisk(state: dict[str, object]) -> None:
    """Stop the Asterisk a start left running (its pid and stop command in `state`)."""
    apid = state.get("asterisk_pid")
    command = state.get("asterisk_command")
    if isinstance(apid, int) and _alive(apid) and isinstance(command, list):
        subprocess.run([str(c) for c in command], check=False, capture_output=True, timeout=20)
        if not _wait_gone(apid, 15):
            os.kill(apid, signal.SIGKILL)


def down() -> int:
    root = stack_dir()
    state = _load_state()
    pid = state.get("service_pid")
    if isinstance(pid, int) and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, 20):
            os.kill(pid, signal.SIGKILL)
    _stop_asterisk(state)
    pg_port = state.get("pg_port")
    if isinstance(pg_port, int):
        PostgresCluster(root / "postgres", port=pg_port).stop()
    for key in ("service_pid", "asterisk_pid"):
        state.pop(key, None)
    if state:
        _save_state(state)
    print("CTI stack stopped", file=sys.stderr)
    return 0


def status() -> int:
    state = _load_state()
    for name in ("service_pid", "asterisk_pid"):
        print(f"{name.removesuffix('_pid')}: {'up' if _alive(state.get(name)) else 'down'}")
    return 0


def render_only(out: Path, instance_dir: str) -> int:
    """Render the shipped configuration for an Asterisk that runs elsewhere (the
    docker-compose image): ports from CTI_STACK_*_PORT, the AMI secret from
    CTI_STACK_AMI_SECRET; its channel event log goes to the service's database on this
    host (CTI_STACK_PG_PORT, user cti, password CTI_DB_PASSWORD)."""
    secret = os.environ.get("CTI_STACK_AMI_SECRET", "")
    if not secret:
        print("CTI_STACK_AMI_SECRET must be set", file=sys.stderr)
        return 2
    params = AsteriskParams(
        instance_dir=PurePosixPath(instance_dir),
        sip_port=_port("SIP", 5060),
        ami_port=_port("AMI", 5038),
        rtp_start=_port("RTP_START", 10000),
        rtp_end=_port("RTP_END", 10999),
        ami_secret=secret,
        seats=default_seats(),
        wrapup_seconds=PRODUCT_WRAPUP_SECONDS,
        cel_database=CelDatabase(host="127.0.0.1", port=_port("PG", 55432), dbname="cti",
                                 user="cti",
                                 password=os.environ.get("CTI_DB_PASSWORD") or None),
    )
    out.mkdir(parents=True, exist_ok=True)
    write_config(render(params), out, seed=generated_defaults(params))
    print(f"rendered asterisk-conf into {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cti.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "render"])
    parser.add_argument("--out", type=Path, help="render: where to write the configuration")
    parser.add_argument("--instance-dir", default="/srv/asterisk",
                        help="render: Asterisk's own directory for spool, logs and astdb")
    args = parser.parse_args(argv)
    if args.command == "render":
        if args.out is None:
            parser.error("render needs --out DIR")
        return render_only(args.out, args.instance_dir)
    return {"up": up, "down": down, "status": status}[args.command]()
