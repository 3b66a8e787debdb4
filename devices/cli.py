"""`safetrain sim …` (simulated devices and a stand-in server) and `safetrain gateway`.

Heavy modules (pyserial, httpx, sqlite, the curricula) are imported inside the commands, so
that `safetrain --help` stays quick.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from devices.config import GatewayConfig
    from devices.sim.device import SimDevice
    from devices.sim.profiles import KindProfile

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_BAD_INPUT = 2

sim_app = typer.Typer(
    help="设备模拟器 / Simulated devices on a pty or TCP port, and a stand-in server.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
gateway_app = typer.Typer(
    help="设备网关 / The hall's device gateway: serial devices, cameras → durable spool → server.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    err.print(message, style="red", markup=False)
    return typer.Exit(code)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    return stop


# --- safetrain sim <kind> -----------------------------------------------------------------------


COMMANDS_HELP = (
    "corrupt | duplicate | drop-ack | garbage | hw-fault | reboot | disconnect [S] | "
    "freeze S | slow BPS|off | flood N | status | quit   (add a device id to aim at one)"
)


def _apply(devices: list[SimDevice], line: str) -> bool:
    """One command typed on stdin; False to quit."""
    words = line.split()
    if not words:
        return True
    if words[0] in ("quit", "exit"):
        return False
    targets = [d for d in devices if d.dev in words[1:]] or devices
    args = [w for w in words[1:] if w not in {d.dev for d in devices}]
    number = float(args[0]) if args and re.fullmatch(r"[\d.]+", args[0]) else None
    actions: dict[str, Callable[[SimDevice], object]] = {
        "corrupt": lambda d: d.corrupt_next(),
        "duplicate": lambda d: d.duplicate_next(),
        "drop-ack": lambda d: d.drop_acks(),
        "garbage": lambda d: d.garbage(),
        "hw-fault": lambda d: d.hardware_fault(),
        "reboot": lambda d: d.reboot(),
        "disconnect": lambda d: d.disconnect(number or 3.0),
        "freeze": lambda d: d.freeze(number or 10.0),
        "slow": lambda d: d.set_slow(int(number) if number else None),
        "flood": lambda d: d.flood(int(number or 100)),
        "status": lambda d: out.print(d.summary(), markup=False),
    }
    action = actions.get(words[0])
    if action is None:
        err.print(f"unknown command {words[0]!r}: {COMMANDS_HELP}", markup=False)
        return True
    for d in targets:
        action(d)
    return True


def _read_commands(devices: list[SimDevice], stop: threading.Event) -> None:
    for line in sys.stdin:
        if not _apply(devices, line):
            break
    else:
        return  # stdin ended (not a terminal): keep running
    stop.set()


def _summary(device: SimDevice) -> str:
    row = device.summary()
    shown = "runs_done generated acked unacked resent naks acks_dropped evicted boots connects"
    shown += " ack_p99_ms"
    return f"{device.dev}: " + ", ".join(f"{k} {row[k]}" for k in shown.split())


def _overall(devices: list[SimDevice]) -> str:
    made = sum(len(d.generated) for d in devices)
    acked = sum(d.stats["acked"] for d in devices)
    waiting = sum(len(d.unacked) for d in devices)
    given_up = sum(d.stats["evicted"] + d.stats["lost_on_reboot"] for d in devices)
    text = f"all {len(devices)}: generated {made}, acked {acked}, unacked {waiting}, given up {given_up}"
    latencies = sorted(x for d in devices for x in d.latencies)
    if latencies:
        p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
        text += (
            f", ack latency p50 {latencies[len(latencies) // 2] * 1000:.1f} ms"
            f" p99 {p99 * 1000:.1f} ms max {latencies[-1] * 1000:.1f} ms"
        )
    return text


def _run_sims(
    profile: KindProfile,
    *,
    pty: bool,
    tcp: int | None,
    url: str | None,
    host: str,
    link_dir: Path | None,
    dev: str | None,
    devices: int,
    scenario: str | None,
    rate: float,
    pause: float,
    count: int,
    heartbeat: float,
    faults: str,
    seed: int | None,
    require_bind: bool,
) -> None:
    from devices.sim.device import SimDevice
    from devices.sim.endpoints import Endpoint, PtyEndpoint, TcpEndpoint, UrlEndpoint
    from devices.sim.faults import FaultSpecError, parse_faults
    from devices.sim.profiles import device_ids

    if sum((pty, tcp is not None, url is not None)) > 1:
        raise _fail("choose one of --pty, --tcp PORT, --url URL")
    if url is not None and devices != 1:
        raise _fail("--url connects one device; use --pty or --tcp for several")
    if devices < 1:
        raise _fail("--devices must be at least 1")
    try:
        plan = parse_faults(faults)
    except FaultSpecError as exc:
        raise _fail(f"--faults: {exc}") from exc
    ids = device_ids(dev or f"{profile.prefix}-01", devices)

    def endpoint_for(i: int, dev_id: str) -> Callable[[int], Endpoint]:
        def make(wake: int) -> Endpoint:
            if tcp is not None:
                return TcpEndpoint(wake, host, tcp + i if tcp else 0)
            if url is not None:
                return UrlEndpoint(wake, url)
            return PtyEndpoint(wake, link_dir / dev_id if link_dir else None)

        return make

    def on_event(device: SimDevice, message: str) -> None:
        out.print(f"{device.dev}: {message}", markup=False)

    sims: list[SimDevice] = []
    try:
        for i, dev_id in enumerate(ids):
            sims.append(
                SimDevice(
                    dev_id,
                    profile,
                    endpoint_for(i, dev_id),
                    rate=rate,
                    pause=pause,
                    count=count,
                    heartbeat=heartbeat,
                    scenario=scenario,
                    require_bind=require_bind,
                    faults=plan,
                    seed=None if seed is None else seed + i,
                    on_event=on_event,
                )
            )
    except (OSError, ValueError) as exc:
        for s in sims:
            s.stop()
        raise _fail(f"cannot start the simulator: {exc}") from exc

    out.print(f"{profile.title} × {len(sims)}", markup=False)
    for s in sims:
        path = getattr(s.endpoint, "path", "")
        shown = f"{s.where}  ({path})" if path and path != s.where else s.where
        out.print(f"  {s.dev}  {shown}", markup=False)
    out.print("stations.toml:", markup=False)
    for s in sims:
        out.print(
            f'  [[station]]\n  code = "{s.dev}"\n  kind = "{profile.kind}"\n  url = "{s.where}"',
            markup=False,
        )
    if plan.any:
        out.print(f"faults: {faults}", markup=False)
    stop = _stop_on_signals()
    if sys.stdin.isatty():
        out.print(f"commands: {COMMANDS_HELP}", markup=False)
        threading.Thread(target=_read_commands, args=(sims, stop), daemon=True).start()
    for s in sims:
        s.start()
    try:
        while not stop.wait(0.2):
            if count and all(s.wait_done(0) for s in sims):
                break
            if any(s.error is not None for s in sims):
                break
    finally:
        for s in sims:
            s.stop()
    for s in sims:
        out.print(_summary(s), markup=False)
    out.print(_overall(sims), markup=False)
    failed = [s for s in sims if s.error is not None]
    if failed:
        raise _fail(f"{failed[0].dev}: {failed[0].error}", 1)


def _register_sim(kind: str) -> None:
    from devices.sim.profiles import PROFILES

    profile = PROFILES[kind]

    def command(
        pty: Annotated[
            bool, typer.Option("--pty", help="Open a pseudo-terminal (the default).")
        ] = False,
        tcp: Annotated[
            int | None,
            typer.Option(
                "--tcp",
                metavar="PORT",
                help="Listen on this TCP port instead (several devices: PORT, PORT+1 …; 0: any).",
            ),
        ] = None,
        url: Annotated[
            str | None,
            typer.Option(
                help="Open this pyserial URL instead (a real port on a null-modem cable)."
            ),
        ] = None,
        host: Annotated[str, typer.Option(help="Address --tcp listens on.")] = "127.0.0.1",
        link_dir: Annotated[
            Path | None,
            typer.Option(help="Keep a symlink DIR/<dev> to each pty (it follows reconnects)."),
        ] = None,
        dev: Annotated[
            str | None,
            typer.Option(
                help="Device id (default: the kind's, VR-01, FALL-01, SHOCK-01, MECH-01)."
            ),
        ] = None,
        devices: Annotated[int, typer.Option(help="How many devices to simulate.")] = 1,
        scenario: Annotated[
            str | None, typer.Option(help="Always run this scenario (default: any of the kind).")
        ] = None,
        rate: Annotated[float, typer.Option(help="Frames per second during a run.")] = 0.5,
        pause: Annotated[float, typer.Option(help="Seconds between runs.")] = 3.0,
        count: Annotated[
            int, typer.Option(help="Runs per device, then exit once all are acked (0: forever).")
        ] = 0,
        heartbeat: Annotated[float, typer.Option(help="Seconds between heartbeats.")] = 2.0,
        faults: Annotated[
            str,
            typer.Option(
                help="Faults, e.g. corrupt=0.05,drop-ack=0.1,duplicate=0.05,garbage=0.02,"
                "disconnect=60:5,reboot=300,slow=960,flood=200:30,hw-fault=0.1."
            ),
        ] = "",
        seed: Annotated[int | None, typer.Option(help="Seed for a repeatable run.")] = None,
        require_bind: Annotated[
            bool, typer.Option(help="Start a run only when a trainee is bound.")
        ] = False,
    ) -> None:
        _run_sims(
            profile,
            pty=pty,
            tcp=tcp,
            url=url,
            host=host,
            link_dir=link_dir,
            dev=dev,
            devices=devices,
            scenario=scenario,
            rate=rate,
            pause=pause,
            count=count,
            heartbeat=heartbeat,
            faults=faults,
            seed=seed,
            require_bind=require_bind,
        )

    zh, en = profile.title.split(" / ")
    sim_app.command(
        profile.command,
        short_help=f"{zh}模拟器 / {en} simulator.",
        help=f"{zh}模拟器 / {en} simulator: runs its curricula scenarios, prints its /dev/pts "
        "path or port; on a terminal, type fault commands (corrupt, disconnect 5, reboot …).",
    )(command)


SIM_KINDS = ("vr_pod", "fall_rig", "shock_rig", "mech_rig")
for _kind in SIM_KINDS:
    _register_sim(_kind)


@sim_app.command("server")
def sim_server(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    token: Annotated[
        str | None, typer.Option(help="Bearer token to require (default: any).")
    ] = None,
    bind: Annotated[
        list[str] | None,
        typer.Option(help="A binding STATION=BADGE[:NAME] to answer (repeatable)."),
    ] = None,
) -> None:
    """模拟服务器 / A stand-in for the server's device API (results, bindings), for checks."""
    from devices.sim.server import FakeServer

    bindings = []
    for entry in bind or []:
        station, sep, who = entry.partition("=")
        badge, _, name = who.partition(":")
        if not sep or not station or not badge:
            raise _fail(f"--bind {entry!r}: expected STATION=BADGE[:NAME]")
        bindings.append({"station": station, "badge": badge, "name": name or badge})
    server = FakeServer(host, port, token)
    server.bindings = bindings or None
    try:
        server.start()
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc}") from exc
    out.print(f"stand-in server at {server.url} (Ctrl-C to stop)", markup=False)
    stop = _stop_on_signals()
    seen = -1
    try:
        while not stop.wait(2.0):
            with server.lock:
                a = server.answers
                counts = (len(a["accepted"]), len(a["duplicate"]), len(a["rejected"]))
            if sum(counts) != seen:
                seen = sum(counts)
                out.print("accepted {} · duplicate {} · rejected {}".format(*counts), markup=False)
    finally:
        server.stop()


# --- safetrain gateway -------------------------------------------------------------------------


def default_spool(config: GatewayConfig) -> Path:
    """The config's spool file, else var/gateway-<name>.sqlite3 (relative to the cwd)."""
    return config.spool or Path("var") / f"gateway-{config.name}.sqlite3"


@gateway_app.callback(invoke_without_command=True)
def gateway(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="The hall's stations.toml (see docs/device-protocol.md).")
    ] = None,
    server_url: Annotated[
        str | None,
        typer.Option(help="The server, e.g. http://10.0.0.2:8000 (default: the config's)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="SAFETRAIN_GATEWAY_TOKEN", help="Bearer token of a gateway account."),
    ] = None,
    spool: Annotated[
        Path | None,
        typer.Option(help="Spool file (default: the config's, else var/gateway-<name>.sqlite3)."),
    ] = None,
    status_port: Annotated[
        int | None,
        typer.Option(help="Local port of the JSON status page (default 8765; 0: any free port)."),
    ] = None,
    log_interval: Annotated[
        float, typer.Option(help="Seconds between status lines in the log.")
    ] = 60.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """设备网关 / Run the gateway: supervise the stations of --config, spool, forward."""
    if ctx.invoked_subcommand is not None:
        return
    from devices.config import ConfigError, load_config
    from devices.errors import DeviceError
    from devices.gateway import Gateway
    from devices.spool import SpoolError

    if config is None:
        raise _fail("--config is required: the hall's stations.toml")
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _fail("配置错误 / bad stations file: " + str(exc)) from exc
    url = server_url or cfg.server_url
    if not url:
        raise _fail("--server-url is required (or server_url in the config's [gateway] table)")
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise _fail("--log-level must be debug, info, warning or error")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    if not token:
        logging.getLogger("devices.gateway").warning(
            "no token (--token or SAFETRAIN_GATEWAY_TOKEN): the server will refuse the results"
        )
    spool_path = spool or default_spool(cfg)
    port = status_port if status_port is not None else cfg.status_port
    try:
        gw = Gateway(
            cfg.stations,
            server_url=url,
            token=token,
            spool_path=spool_path,
            status_port=8765 if port is None else port,
            name=cfg.name,
            cameras=cfg.cameras,
            device_keys=cfg.device_keys,
        )
    except (SpoolError, OSError, ValueError, DeviceError) as exc:
        raise _fail(f"cannot start the gateway: {exc}") from exc
    stop = _stop_on_signals()
    with gw:
        assert gw.status_server is not None
        out.print(f"{cfg.name}: status at {gw.status_server.url}/status", markup=False)
        gw.run(stop, log_interval)
        summary = gw.summary()
    out.print(summary, markup=False)


@gateway_app.command("rejected")
def gateway_rejected(
    config: Annotated[
        Path | None, typer.Option(help="The hall's stations.toml: its spool is the one read.")
    ] = None,
    spool: Annotated[Path | None, typer.Option(help="Or the spool file itself.")] = None,
    requeue: Annotated[
        list[str] | None, typer.Option(help="Send this rejected key again (repeatable).")
    ] = None,
    requeue_all: Annotated[bool, typer.Option(help="Send every rejected item again.")] = False,
) -> None:
    """被拒绝的结果 / List the items the server rejected; send some again after a fix."""
    from devices.config import ConfigError, load_config
    from devices.spool import Spool, SpoolError

    if spool is None:
        if config is None:
            raise _fail("give --config (the hall's stations.toml) or --spool PATH")
        try:
            spool = default_spool(load_config(config))
        except ConfigError as exc:
            raise _fail("配置错误 / bad stations file: " + str(exc)) from exc
    if not spool.exists():
        raise _fail(f"{spool}: no such spool file")
    try:
        with Spool(spool) as s:
            if requeue or requeue_all:
                moved = s.requeue(None if requeue_all else requeue)
                out.print(f"{moved} item(s) back in the queue", markup=False)
                return
            items = s.rejected(limit=10_000)
    except SpoolError as exc:
        raise _fail(str(exc)) from exc
    table = Table(title=f"rejected · {spool}")
    for c in ("key", "station", "reason", "rejected at", "type"):
        table.add_column(c)
    for r in items:
        table.add_row(
            r.key, r.station, r.reason or "", r.settled_at or "", r.envelope["frame"]["t"]
        )
    out.print(table)
