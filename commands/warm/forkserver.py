"""The warm executor's forkserver: imports Airflow once, then forks one child per command.

The gateway starts it with the Python interpreter of the configured Airflow and hands it one end of a
socketpair as file descriptor 3. Messages are JSON, one per SOCK_SEQPACKET packet.

  gateway -> forkserver  {"op": "warm", "paths": ["dags list", ...], "binary": "/.../airflow"}  (first)
  forkserver -> gateway  {"op": "ready", ...what it loaded...} or {"op": "failed", "error": "..."}
  gateway -> forkserver  {"op": "run", "id": N, "argv": [...], "env": [...], "cwd": "..."}
                         with the write ends of the child's stdout and stderr pipes (SCM_RIGHTS)
  forkserver -> gateway  {"op": "started", "id": N, "pid": P} or {"op": "refused", "id": N, "error": "..."}
  forkserver -> gateway  {"op": "exited", "id": N, "pid": P, "code": C, "signal": S}

The child calls setsid, so its pid is its process group and the gateway stops a command by signalling the
group. The forkserver never imports a DAG file, a plugin or any other user code: only the children do.
When the gateway's end of the socket closes, the forkserver kills the groups of the children still running
and exits, so nothing outlives the gateway.
"""

import atexit
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import time

CONTROL_FD = 3
MAX_MESSAGE = 1 << 20

# Modules that most commands import after parsing their arguments, as a profile of the children shows:
# alembic (every command that opens the metadata DB checks its migrations), the migrations themselves, and
# what parsing and serializing DAGs needs. Each is Airflow's or a package it depends on, never user code;
# those a version lacks are skipped.
WARM_MODULES = [
    "alembic.config",
    "alembic.runtime.environment",
    "alembic.runtime.migration",
    "alembic.script",
    "alembic.operations",
    "alembic.ddl",
    "airflow.migrations",
    "airflow.migrations.utils",
    "airflow.migrations.db_types",
    "airflow.utils.db",
    "airflow.models.dagbag",
    "airflow.serialization.serialized_objects",
    "airflow.dag_processing.collection",
    "airflow.dag_processing.bundles.manager",
    "airflow.sdk",
    "airflow.sdk.bases.operator",
    "airflow.sdk.definitions.decorators",
    "airflow.decorators",
    "airflow.operators.python",
    "airflow.providers.standard.operators.python",
    "airflow.providers.standard.decorators.python",
    "airflow.timetables.trigger",
    "airflow.utils.cli_action_loggers",
    "airflow.api.client.local_client",
    "airflow.api.client.json_client",
    "airflow.api.auth.backend.default",
    "airflow.api.common.trigger_dag",
    "airflow.operators.subdag",
    "airflow.www.app",
    "flask_caching",
    "httpx",
    "httpcore",
    "packaging.version",
    "rich.console",
    "tomllib",
    "timeit",
]


def send(sock, message):
    sock.send(json.dumps(message).encode())


def thread_count():
    """Threads of this process as the kernel sees them, which includes threads Python did not start."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def command_modules(parser, paths):
    """The modules that hold the functions of the whitelisted command paths, as Airflow's lazy loader names them."""
    modules = set()
    for path in paths:
        action = parser
        for word in path.split():
            sub = None
            for a in action._actions:
                choices = getattr(a, "choices", None)
                if isinstance(choices, dict) and word in choices:
                    sub = choices[word]
                    break
            if sub is None:
                break
            action = sub
        else:
            func = action.get_default("func")
            for cell in getattr(func, "__closure__", None) or ():
                value = cell.cell_contents
                if isinstance(value, str) and "." in value:
                    modules.add(value.rpartition(".")[0])
    return sorted(modules)


def user_code_loaded(folders):
    """Modules imported from the DAGs or plugins folder: the forkserver must hold none."""
    found = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path and any(os.path.realpath(path).startswith(f + os.sep) for f in folders if f):
            found.append(name)
    return found


def warm(request):
    """Imports and prepares what every command needs, and returns what the gateway should know of it."""
    started = time.monotonic()
    # The airflow script's folder leads the import path, as when Python runs the script (python -c would
    # put the working directory there instead).
    sys.path[0] = os.path.dirname(os.path.realpath(request["binary"]))
    # As the airflow script does: the configuration first, then the CLI.
    import airflow.__main__  # noqa: F401
    from airflow import settings
    from airflow.cli import cli_parser
    from airflow.configuration import AIRFLOW_CONFIG, conf

    parser = cli_parser.get_parser()
    modules = command_modules(parser, request.get("paths", []))
    for module in modules:
        importlib.import_module(module)
    warmed = []
    for module in WARM_MODULES:
        try:
            importlib.import_module(module)
            warmed.append(module)
        except ImportError:
            pass
    # Each provider package's description, which Airflow reads when it discovers providers.
    from importlib.metadata import entry_points

    for entry in entry_points(group="apache_airflow_provider"):
        try:
            importlib.import_module(entry.module)
        except ImportError:
            pass

    import sqlalchemy.orm

    import airflow.models  # noqa: F401

    sqlalchemy.orm.configure_mappers()
    # One round trip to the metadata DB, so the dialect, its first-connect checks and the statement
    # caches are ready; then every connection is closed, so no child shares one.
    from sqlalchemy import text

    with settings.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    settings.engine.dispose()

    dags_folder = os.path.realpath(conf.get("core", "dags_folder"))
    plugins_folder = os.path.realpath(conf.get("core", "plugins_folder"))
    site_packages = sorted({os.path.dirname(os.path.dirname(os.path.realpath(airflow.__main__.__file__)))})
    return {
        "airflow": getattr(airflow, "__version__", ""),
        "python": sys.version.split()[0],
        "config_file": os.path.realpath(AIRFLOW_CONFIG),
        "plugins_folder": plugins_folder,
        "dags_folder": dags_folder,
        "site_packages": site_packages,
        "modules": modules + warmed,
        "user_code": user_code_loaded([dags_folder, plugins_folder]),
        "plugins_loaded": plugins_loaded(),
        "threads": thread_count(),
        "thread_names": [t.name for t in threading.enumerate()],
        "warm_ms": int((time.monotonic() - started) * 1000),
    }


def plugins_loaded():
    """Whether Airflow has loaded its plugins (it does so at import when core.lazy_load_plugins is off)."""
    manager = sys.modules.get("airflow.plugins_manager")
    return manager is not None and getattr(manager, "plugins", None) is not None


def exit_code(exc):
    """The process exit status Python gives an uncaught SystemExit."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def print_uncaught(exc, script):
    """Prints a traceback as the interpreter prints one that ends a script: from the script's frame on."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    if tb is not None:
        exc = exc.with_traceback(tb)
    sys.excepthook(type(exc), exc, exc.__traceback__)


def child(request, out_fd, err_fd, ready_w, keep_closed):
    """Runs in the forked child: becomes its own session, takes the pipes, and runs Airflow's CLI."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        os.close(ready_w)  # tells the forkserver the group exists
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # Only the forkserver's own descriptors are closed: whatever Airflow opened while importing stays
        # open, as it would in a process that imported it by itself.
        for fd in [null, out_fd, err_fd, *keep_closed]:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(dict(kv.split("=", 1) for kv in request["env"] if "=" in kv))
        if os.environ.get("PYTHONUNBUFFERED"):
            # What the variable does to an interpreter that starts with it: output goes out as printed.
            for stream in (sys.stdout, sys.stderr):
                if hasattr(stream, "reconfigure"):
                    stream.reconfigure(line_buffering=True, write_through=True)
        sys.argv = list(request["argv"])
        script = sys.argv[0]
        try:
            # The airflow script itself, as Python runs it: Airflow's own entry point, the script's frame
            # at the top of a traceback.
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exit_code(exc)
        except BaseException as exc:
            print_uncaught(exc, script)
            code = 128 + signal.SIGINT if isinstance(exc, KeyboardInterrupt) else 1
        # What the interpreter does at exit: wait for threads, run exit handlers, flush.
        threading._shutdown()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code & 0xFF)


def serve(sock):
    sel = selectors.DefaultSelector()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_inheritable(wake_r, False)
    os.set_inheritable(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel.register(sock, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    running = {}  # pid -> request id

    def reap():
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            rid = running.pop(pid, None)
            if rid is None:
                continue
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + sig
            send(sock, {"op": "exited", "id": rid, "pid": pid, "code": code, "signal": sig})

    while True:
        for key, _ in sel.select():
            if key.fileobj == wake_r:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                reap()
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 2)
            except (ConnectionError, OSError):
                data, fds = b"", []
            if not data:
                # The gateway is gone: nothing may outlive it.
                for pid in running:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except OSError:
                        pass
                os._exit(0)
            request = json.loads(data)
            if request.get("op") != "run" or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                send(sock, {"op": "refused", "id": request.get("id"), "error": "a run request needs two pipes"})
                continue
            threads = thread_count()
            if threads != 1:
                for fd in fds:
                    os.close(fd)
                names = ", ".join(t.name for t in threading.enumerate())
                send(sock, {"op": "refused", "id": request["id"], "threads": threads,
                            "error": f"the forkserver has {threads} threads ({names}); forking it is unsafe"})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            ready_r, ready_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                child(request, fds[0], fds[1], ready_w, [ready_r, wake_r, wake_w, sock.fileno(), sel.fileno()])
            os.close(ready_w)
            for fd in fds:
                os.close(fd)
            os.read(ready_r, 1)  # returns when the child has called setsid (or died)
            os.close(ready_r)
            running[pid] = request["id"]
            send(sock, {"op": "started", "id": request["id"], "pid": pid})
            reap()


def main():
    sock = socket.socket(fileno=CONTROL_FD)
    os.set_inheritable(CONTROL_FD, False)
    request = json.loads(sock.recv(MAX_MESSAGE) or b"{}")
    try:
        info = warm(request)
    except BaseException as exc:  # the gateway logs it and runs commands as subprocesses
        send(sock, {"op": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise
    send(sock, {"op": "ready", **info})
    # What warming up made is never garbage: the children's collections need not walk it, nor copy the
    # pages it lies on.
    gc.collect()
    gc.freeze()
    serve(sock)


if __name__ == "__main__":
    main()
