"""The headless CLI, shaped like `openstack server ...`, its output formatted by cliff's
formatters (as the `openstack` CLI's is). Without arguments it starts the console; `serve`
runs the state dir's service. Errors are one line on stderr and a non-zero exit; nothing here
imports Textual.

Which client a command uses: the service at --url / $NOVATUI_URL; else the state dir's
service when one runs; else an engine in this process (a console with no service to attach
to starts one as its child process, which serves other clients while the console runs)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .cli_commands import EXIT_FAILED, EXIT_REFUSED, run_command
from .cli_parser import CLIError, build_parser
from .errors import NovaError
from .paths import default_state_dir
from .service import find_service

# A verb pays only for what it uses: talking to a running service imports neither the engine
# (libvirt, paramiko, sqlite3) nor the inventory's parser; cliff's formatters come with the
# first output (core/cli_output.py), argparse's subcommands as they are named.


def load_config(path: Path):
    from .config import load_config as load
    return load(path)


def resolve_config(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("NOVATUI_CONFIG"):
        return Path(os.environ["NOVATUI_CONFIG"])
    for candidate in (Path("hosts.toml"), Path("~/.config/novatui/hosts.toml").expanduser()):
        if candidate.exists():
            return candidate
    raise CLIError("novatui: no inventory: pass --config FILE or create ./hosts.toml")



def _state_dir_arg(args) -> Path:
    return Path(os.path.abspath(Path(args.state_dir or default_state_dir()).expanduser()))


def _print_waiting(rows: list[dict]) -> None:
    from .engine import waiting_line
    print(waiting_line(rows), file=sys.stderr)


def attach(url: str, read_only: bool):
    """An HTTP client of the service at `url` (http://HOST:PORT or unix:/path)."""
    from .http_client import HttpClient
    token = os.environ.get("NOVATUI_TOKEN") or None
    if url.startswith("unix:"):
        return HttpClient(url, socket_path=url.removeprefix("unix:").removeprefix("//"),
                          token=token, read_only=read_only)
    return HttpClient(url.rstrip("/"), token=token, read_only=read_only)


def open_client(args):
    """(client, embedded service or None) for this invocation."""
    url = args.url or os.environ.get("NOVATUI_URL")
    if url:
        return attach(url, args.read_only), None
    running = find_service(_state_dir_arg(args))
    if running is not None and args.noun is None:
        # The console paints from one read of the store while it connects.
        from .starting import StartingClient, read_snapshot
        try:
            first = read_snapshot(load_config(resolve_config(args.config)),
                                  _state_dir_arg(args), hosts_starting=False)
        except (NovaError, CLIError, OSError):   # the service's own snapshot follows
            first = None
        url = f"unix:{running['socket']}"
        return StartingClient(lambda: (attach(url, args.read_only), None), url, first,
                              read_only=args.read_only), None
    if running is not None:
        return attach(f"unix:{running['socket']}", args.read_only), None
    from .statedir import prepare_state_dir
    config = load_config(resolve_config(args.config))
    # A mistyped --state-dir must not start an empty cloud: only the default one, or an
    # explicit --init, creates a state dir.
    console = args.noun is None and not args.read_only   # it starts its service, a child
    state_dir = prepare_state_dir(args.state_dir or default_state_dir(), args.read_only,
                                  create=args.init or args.state_dir is None,
                                  tighten=not console)   # the child's own start does it
    if console:
        # The console paints from one read of the store while its service (a child
        # process, core/console_service.py) starts.
        from .service import SOCKET_FILE
        from .starting import StartingClient, read_snapshot

        def start():
            from .console_service import start_child_service
            return start_child_service(resolve_config(args.config), state_dir)
        starting = StartingClient(start, f"unix:{state_dir / SOCKET_FILE}",
                                  read_snapshot(config, state_dir, hosts_starting=True))
        return starting, starting
    from .client import LocalClient
    from .engine import Engine
    if args.noun is not None:
        return LocalClient(Engine(config, state_dir, read_only=args.read_only,
                                  own="free").start()), None
    # drives nothing: watches the store the others write
    engine = Engine(config, state_dir, read_only=True, own="none").start(ready_timeout=0)
    return LocalClient(engine, poll=True), None


def embed(engine):
    """(client, service): the engine served on its state dir's socket by this process, and
    an HTTP client of it (the tests' and the benches' console; `novatui` starts its service
    as a child process, core/console_service.py)."""
    from .service import Service
    try:
        service = Service(engine).start()
    except BaseException:
        engine.stop(settle=False)
        raise
    return attach(service.socket_url, False), service


def serve(args) -> int:
    """`novatui serve`: the state dir's service, in the foreground, until SIGTERM/SIGINT."""
    from .engine import Engine
    from .osapi.auth import ensure_tokens, is_loopback
    from .service import Service, check_no_service, parse_listen
    from .statedir import prepare_state_dir
    listen = parse_listen(args.listen) if args.listen else None
    if listen is not None and not is_loopback(listen[0]) and not args.token:
        raise CLIError(f"novatui serve: refusing to listen on {args.listen} without a token: "
                       "only loopback and the Unix socket go without one; add --token")
    config = load_config(resolve_config(args.config))
    state_dir = prepare_state_dir(args.state_dir or default_state_dir(), False,
                                  create=args.init or args.state_dir is None)
    check_no_service(state_dir)
    stopping = Stopping(stdin_closes=args.for_console)
    engine = Engine(config, state_dir, hosts=() if args.no_compute else None).start(ready_timeout=0)
    try:
        tokens = ensure_tokens(state_dir) if args.token else {}  # in a state dir, not before
        service = Service(engine, listen, tcp_needs_token=args.token, tokens=tokens).start()
    except BaseException:
        engine.stop(settle=False)
        raise
    where = ", ".join(filter(None, [service.socket_url, service.url]))
    print(f"novatui: serving {state_dir} on {where} (pid {os.getpid()}{_carrying(engine)})",
          file=sys.stderr)
    if tokens:
        print(f"novatui: X-Auth-Token required over TCP: {state_dir}/api-token (admin), "
              f"{state_dir}/api-token-read-only (read-only)", file=sys.stderr)
    stopping.wait()
    stopping.settle(engine)   # while it still serves: clients watch the moves end
    service.stop(settle=False)
    return 0


def compute(args) -> int:
    """`novatui compute --host NAME [--host NAME ...]`: the compute service of each host
    named, in the foreground, until SIGTERM/SIGINT; it settles what it carries before it
    exits, as a service does."""
    from .engine import Engine
    from .statedir import prepare_state_dir
    config = load_config(resolve_config(args.config))
    hosts = tuple(dict.fromkeys(args.host))   # named twice: driven once
    for host in hosts:
        config.host(host)   # one line naming the inventory when it has no such host
    state_dir = prepare_state_dir(args.state_dir or default_state_dir(), False,
                                  create=args.init or args.state_dir is None)
    stopping = Stopping()
    engine = Engine(config, state_dir, hosts=hosts, conductor=False).start(ready_timeout=0)
    print(f"novatui: compute service of {', '.join(hosts)} (pid {os.getpid()}{_carrying(engine)})",
          file=sys.stderr)
    stopping.wait()
    stopping.settle(engine)
    engine.stop(settle=False)
    return 0


def _carrying(engine) -> str:
    """What carries the casts and holds the store: a line an operator checks at start."""
    bus = "store" if engine.config.transport_url is None else "rabbit"
    return f"; bus: {bus}; store: {engine.store.where}"


class Stopping:
    """How a foreground service stops: the first SIGTERM or SIGINT (or, for a console's own
    service, its standard input closing) ends wait(); settle() then lets the moves it
    carries reach a resting state, unless a second signal says stop now."""

    SETTLE_LIMIT = 600.0

    def __init__(self, stdin_closes: bool = False):
        import signal
        import threading
        self.asked, self.hurry = threading.Event(), threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._signalled)
        if stdin_closes:
            threading.Thread(target=self._until_stdin_closes, name="novatui-console-gone",
                             daemon=True).start()

    def _signalled(self, *_) -> None:
        (self.hurry if self.asked.is_set() else self.asked).set()

    def _until_stdin_closes(self) -> None:
        try:   # nothing is written: this returns at EOF (os.read: no buffer lock to hold)
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        self.asked.set()

    def wait(self) -> None:
        while not self.asked.wait(1.0):
            pass
        print("novatui: stopping", file=sys.stderr)

    def settle(self, engine) -> None:
        engine.settle(self.SETTLE_LIMIT, _print_waiting, abandon=self.hurry)
        if self.hurry.is_set():
            print("novatui: stopping now: queued steps wait for the next process on their "
                  "hosts", file=sys.stderr)


def run(args) -> int:
    if args.noun == "serve":
        return serve(args)
    if args.noun == "compute":
        if args.read_only or args.url:
            raise CLIError("novatui compute: an agent drives its host itself: it takes neither "
                           "--read-only nor --url")
        return compute(args)
    if args.noun is None:
        # Textual paints at most TEXTUAL_FPS frames a second (60 unless set): a change waits
        # for the next frame, and a key's new state mostly comes a few milliseconds after the
        # frame of its request's log lines. At 240 that wait is 4 ms, not 8 (1,000 instances,
        # key -> state, three alternating pairs: 47-50 ms at 120, 42-43 at 240), with no
        # measured cost to a script's burst of pauses (bench/burst.py: console 0.91 against
        # 0.92 ms of CPU per request). Frames are painted only when something changed. It is
        # read when Textual is imported; an operator's own setting wins.
        os.environ.setdefault("TEXTUAL_FPS", "240")
        # The cyclic collector waits for the first picture (tui/app.py turns it back on, its
        # survivors frozen): the imports and the first screen make objects that live as long
        # as the console, and its passes over them were 30-40 ms of the start at 1,000.
        import gc
        gc.disable()
        # The console alone pulls in Textual: before any thread of the engine competes. The
        # first picture's read of the store runs meanwhile (SQLite's own work needs no GIL:
        # 50 ms of the start at 5,000 instances); what that read imports is imported first,
        # so that no module is imported by two threads at once.
        from concurrent.futures import ThreadPoolExecutor  # Textual's app imports it too

        from . import hosts, starting, statedir, store_peek  # noqa: F401
        with ThreadPoolExecutor(1, thread_name_prefix="novatui-opening") as pool:
            opening = pool.submit(open_client, args)
            from tui.app import run_console
            client = opening.result()
        return run_console(*client)
    client, embedded = open_client(args)
    try:
        rc = run_command(args, client)
        sys.stdout.flush()
        return rc
    finally:  # the steps this process carries reach a resting state first
        client.close(on_wait=_print_waiting)


def _quiet_stdout() -> None:
    """The reader of our output went away (`| head -1`): send the rest nowhere, so that
    neither we nor the interpreter's exit flush print a BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _stacks_on_sigusr2() -> None:
    """`kill -USR2 PID` prints every thread's stack to stderr and the process goes on (Nova's
    services answer it with a Guru Meditation report): what a process that seems stuck waits on."""
    import faulthandler
    import signal
    try:
        faulthandler.register(signal.SIGUSR2, all_threads=True, chain=False)
    except (AttributeError, ValueError, RuntimeError):   # not Unix, or not the main thread
        pass


def _loaded(module: str, name: str) -> tuple:
    """(module.name,) when that module has been imported, else (): an except clause for an
    error that only code which imported its module can raise (none, when it was not)."""
    found = sys.modules.get(module)
    return (getattr(found, name),) if found is not None else ()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = None
    _stacks_on_sigusr2()
    try:
        args = build_parser().parse_args(argv)
        if args.noun not in (None, "serve", "compute") and (
                getattr(args, "verb", None) is None
                or (args.verb == "event" and args.event_verb is None)):
            raise CLIError(f"novatui {args.noun}: a command is needed (see novatui {args.noun} --help)")
        return run(args)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (CLIError, *_loaded("core.cli_output", "OutputError")) as e:
        print(str(e) if isinstance(e, CLIError) else f"novatui: {e}", file=sys.stderr)
        return EXIT_REFUSED
    except NovaError as e:
        print(f"novatui: {e.message}", file=sys.stderr)
        return EXIT_REFUSED
    except TimeoutError as e:
        print(f"novatui: {e}", file=sys.stderr)
        return EXIT_FAILED
    except (*_db_errors(), *_loaded("sqlite3", "DatabaseError")) as e:
        from .statedir import STORE_FILE
        from .errors import describe_db_error
        print(f"novatui: {describe_db_error(_state_dir_arg(args) / STORE_FILE, e)}",
              file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:  # the disk is full, a file is read-only or not ours...
        where = f"{e.filename}: " if e.filename else ""
        print(f"novatui: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("novatui: interrupted; submitted work continues at the next start", file=sys.stderr)
        return 130


def _db_errors() -> tuple:
    """The store's errors, when the store was loaded (SQLAlchemy is not loaded for nothing)."""
    store_db = sys.modules.get(f"{__package__}.store_db")
    return store_db.DBError if store_db is not None else ()


if __name__ == "__main__":
    sys.exit(main())
