"""The warm executor's forkserver: imports Airflow once, then forks one child per command.

The gateway writes it in a folder of its own and runs it with the Python interpreter of the configured
Airflow, as `python FILE airflow-gateway-forkserver`, and hands it one end of a socketpair as file
descriptor 3. Messages are JSON, one per SOCK_SEQPACKET packet.

  gateway -> forkserver  {"op": "warm", "paths": ["dags list", ...], "binary": "/.../airflow"}  (first)
  forkserver -> gateway  {"op": "ready", ...what it loaded...} or {"op": "failed", "error": "..."}
  gateway -> forkserver  {"op": "run", "id": N, "argv": [...], "env": [...], "cwd": "...", "mark": "NAME=..."}
                         with the write ends of the child's stdout and stderr pipes (SCM_RIGHTS)
  forkserver -> gateway  {"op": "started", "id": N, "pid": P, "template": "preload or empty"}
                         or {"op": "refused", "id": N, "error": "..."}
  forkserver -> gateway  {"op": "exited", "id": N, "pid": P, "code": C, "signal": S, "lost": false}
                         ("lost": the exit status is not known, as the template that forked it died)
  forkserver -> gateway  {"op": "template", "preload": "...", "pid": P, "ready": true, ...} when a template is
                         up, or {"op": "template", "preload": "...", "error": "..."} when one cannot be or died

Templates. Some commands do per-process work before their own, such as reading every provider's
configuration (Airflow's providers_configuration_loaded). After warming up, the forkserver forks one
template per preload, a set of such work; the template does that work once, and the commands that need it
are forked from it instead of from the forkserver. A command's preload is found from its function: the
decorators it is wrapped in and the functions it calls. A template reports the exits of its commands to the
forkserver; the forkserver is the child subreaper, so the commands of a template that dies become its own
children.

The child calls setsid, so its pid is its process group and the gateway stops a command by signalling the
group. It also writes its command's marker (the run request's "mark") where /proc shows its environment, so
that the processes it starts are found by it wherever they went, as those of a command that the gateway
starts itself. The forkserver never imports a DAG file, a plugin or any other user code: only the children
do. When the gateway's end of the socket closes, the forkserver kills the groups of the children still
running, and the processes that carry their markers, and exits, so nothing outlives the gateway.
"""

import atexit
import ctypes
import gc
import importlib
import json
import os
import runpy
import select
import selectors
import signal
import socket
import sys
import tempfile
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


def subparser(parser, words):
    """The parser of the command path words, or None when they are not one."""
    action = parser
    for word in words:
        sub = None
        for a in action._actions:
            choices = getattr(a, "choices", None)
            if isinstance(choices, dict) and word in choices:
                sub = choices[word]
                break
        if sub is None:
            return None
        action = sub
    return action


def lazy_target(func):
    """The "module.function" that Airflow's lazy loader will import for a command, or None."""
    for cell in getattr(func, "__closure__", None) or ():
        value = cell.cell_contents
        if isinstance(value, str) and "." in value:
            return value
    return None


def command_modules(parser, paths):
    """The modules that hold the functions of the whitelisted command paths, as Airflow's lazy loader names them."""
    modules = set()
    for path in paths:
        action = subparser(parser, path.split())
        target = lazy_target(action.get_default("func")) if action is not None else None
        if target:
            modules.add(target.rpartition(".")[0])
    return sorted(modules)


class Decorator:
    """Work done by a decorator of Airflow's that command functions are wrapped in, the same whatever it
    wraps: a template calls it once around nothing, and the commands forked from the template find the work
    done (the decorator checks, and skips it)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def found_in(self, func):
        """Whether the decorator is among the wrappers of func (outermost first, down to the function)."""
        decorator = getattr(sys.modules.get(self.module), self.name, None)
        if decorator is None:
            return False
        file, prefix = os.path.realpath(sys.modules[self.module].__file__), self.name + ".<locals>."
        while func is not None:
            code = getattr(func, "__code__", None)
            if code is not None and os.path.realpath(code.co_filename) == file and \
                    getattr(code, "co_qualname", prefix).startswith(prefix):
                return True
            func = getattr(func, "__wrapped__", None)
        return False

    def prepare(self):
        getattr(importlib.import_module(self.module), self.name)(lambda: None)()


class Call:
    """Work done by a function of Airflow's that command functions call, directly or through functions of
    their own module; a template does, with prepare, what makes the call cheap in its commands."""

    def __init__(self, module, name, prepare):
        self.module, self.name, self.prepare = module, name, prepare

    def found_in(self, func):
        target = getattr(sys.modules.get(self.module), self.name, None)
        if target is None:
            return False
        while hasattr(func, "__wrapped__"):
            func = func.__wrapped__
        seen, todo = set(), [func]
        while todo:
            f = todo.pop()
            code = getattr(f, "__code__", None)
            if code is None or code in seen:
                continue
            seen.add(code)
            for name in names_in(code):
                value = f.__globals__.get(name)
                if value is target:
                    return True
                if getattr(value, "__module__", None) == f.__module__ and hasattr(value, "__code__"):
                    todo.append(value)
        return False


def names_in(code):
    """The global names a code object and the functions defined in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= names_in(const)
    return names


def ready_tls_context():
    """Loads, ahead, the CA bundle of the TLS context an httpx client makes by default, and has httpx hand
    that context to the first client of this process (each child has its own copy) that asks for the
    default under the same SSL_CERT_FILE and SSL_CERT_DIR: reading the bundle is 20-30 ms of OpenSSL
    parsing certificates. Every other client, and every later one, gets a context of its own as before."""
    import inspect

    import httpx._transports.default as transports

    original = transports.create_ssl_context
    if list(inspect.signature(original).parameters) != ["verify", "cert", "trust_env"]:
        raise RuntimeError(f"httpx's create_ssl_context takes {inspect.signature(original)}, not (verify, cert, trust_env)")

    def where():
        return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")

    made, env = [original(verify=True, cert=None, trust_env=True)], where()

    def create_ssl_context(verify=True, cert=None, trust_env=True):
        if made and verify is True and cert is None and trust_env is True and where() == env:
            return made.pop()
        return original(verify=verify, cert=cert, trust_env=trust_env)

    transports.create_ssl_context = create_ssl_context


# The per-process work that a template does ahead of its commands, by name. A command's preload is the
# steps found in its function. Only work that is the same for every command, prints nothing, starts
# no thread and imports no user code belongs here; the template checks the last three.
TEMPLATE_STEPS = {
    # Reads the configuration description of every provider (PyYAML) and adds their defaults to conf.
    "providers": Decorator("airflow.utils.providers_configuration_loader", "providers_configuration_loaded"),
    # Makes the client of Airflow's API (`pools`, `dags trigger`, `dags delete`): an httpx client, whose
    # TLS context loads the CA bundle.
    "api_client": Call("airflow.api.client", "get_current_api_client", ready_tls_context),
}


def command_preloads(parser, paths):
    """The preload of each command path that has one: the names of the template steps found in its function."""
    for step in TEMPLATE_STEPS.values():
        try:
            importlib.import_module(step.module)
        except ImportError:
            pass
    preloads = {}
    for path in paths:
        action = subparser(parser, path.split())
        target = lazy_target(action.get_default("func")) if action is not None else None
        if not target:
            continue
        module_name, _, name = target.rpartition(".")
        func = getattr(sys.modules.get(module_name), name, None)
        found = [step for step, how in TEMPLATE_STEPS.items() if func is not None and how.found_in(func)]
        if found:
            preloads[path] = "+".join(found)
    return preloads


def preload_of(preloads, argv):
    """The preload of a command line: a command path is a leaf of the parser, so no other path is its prefix."""
    for n in range(2, min(len(argv), 5) + 1):
        name = preloads.get(" ".join(argv[1:n]))
        if name:
            return name
    return ""


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
    preloads = command_preloads(parser, request.get("paths", [])) if request.get("templates", True) else {}
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
        "preloads": preloads,
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
    code, me, told = 1, os.getpid(), False
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        mark_environment(request.get("mark", ""))
        os.set_inheritable(ready_w, False)
        os.write(ready_w, f"{me}\n".encode())  # tells the forkserver the group exists, and its pid
        told = True
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
        if told and os.getpid() == me:  # not a process the command forked that came back up here
            # The output is complete, and the exit status known: the forkserver hears it now, not after
            # the kernel has torn this large process down (a few milliseconds).
            try:
                os.close(1)
                os.close(2)
                os.write(ready_w, f"{code & 0xFF}\n".encode())
            except OSError:
                pass
        os._exit(code & 0xFF)


def mark_environment(mark):
    """Writes mark (NAME=VALUE) over the value of NAME in the environment this process was started with: the
    memory that /proc/PID/environ shows, which a forked process shares with its parent whatever it sets
    later. The forkserver starts with NAME set to room for a value (the Go side's markRoom); a value that
    does not fit, or a process without the room, is left as it is."""
    name, _, value = mark.partition("=")
    if not name or not value:
        return
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        start, end = int(fields[47]), int(fields[48])  # env_start and env_end, fields 50 and 51
    except (OSError, IndexError, ValueError):
        return
    block = ctypes.string_at(start, end - start)
    key = name.encode() + b"="
    if block.startswith(key):
        at = len(key)
    else:
        at = block.find(b"\0" + key)
        if at < 0:
            return
        at += 1 + len(key)
    room = block.find(b"\0", at)
    room = (room if room >= 0 else len(block)) - at
    data = value.encode()
    if len(data) <= room:
        ctypes.memmove(start + at, data.ljust(room, b"\0"), room)


def kill_marked(marks):
    """Stops (SIGSTOP), then kills with its process group, every process whose environment holds one of
    marks (NAME=VALUE), and looks again until it finds none, for at most 2 seconds: the processes that
    commands started in sessions or groups of their own, which killing the commands' groups misses. The
    gateway's subprocess.KillMarked does the same."""
    entries = {m.encode() for m in marks if m}
    own, me = os.getpgrp(), os.getpid()
    deadline = time.monotonic() + 2
    while entries and time.monotonic() < deadline:
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if entries.intersection(f.read().split(b"\0")):
                        found.append(int(name))
            except OSError:
                pass  # gone, or another user's
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        for pid in found:
            try:
                group = os.getpgid(pid)
                if group not in (own, 0, 1):
                    os.killpg(group, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)


def read_pid(fd, timeout):
    """Reads the first line a child writes on its ready pipe, its pid. Returns the pid (0 if the pipe
    closed without one, None if nothing came within timeout seconds) and what came after it."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None, b""
        chunk = os.read(fd, 64)
        if not chunk:
            return 0, b""
        data += chunk
    line, _, rest = data.partition(b"\n")
    return (int(line) if line.isdigit() else 0), rest


def memory():
    """This process's resident memory, in kB: all of it, its proportional share, and what only it holds."""
    fields = {}
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                key, _, value = line.partition(":")
                if value.strip().endswith("kB"):
                    fields[key] = int(value.split()[0])
    except OSError:
        pass
    return {"rss_kb": fields.get("Rss", 0), "pss_kb": fields.get("Pss", 0),
            "private_kb": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def prepare(preload, folders):
    """Does the work of a preload's steps in this process; returns why it cannot be a template, or ""."""
    capture = tempfile.TemporaryFile()
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    error = ""
    try:
        for step in preload.split("+"):
            try:
                TEMPLATE_STEPS[step].prepare()
            except Exception as exc:
                error = f"{step} failed: {type(exc).__name__}: {exc}"
                break
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
    capture.seek(0)
    printed = capture.read(500).decode(errors="replace")
    capture.close()
    if error:
        return error
    if printed:
        # A command that does the work itself prints this on its own stderr; done ahead, it would be lost.
        return f"doing it printed {printed.splitlines()[0]!r}, which its commands would not print then"
    threads = thread_count()
    if threads != 1:
        return f"doing it started threads ({threads} now): forking the template would be unsafe"
    user_code = user_code_loaded(folders)
    if user_code:
        return f"doing it imported user code ({', '.join(user_code)})"
    if plugins_loaded():
        return "doing it loaded Airflow's plugins"
    return ""


def reaped():
    """The children that have exited, with their wait statuses, until none is left to reap now."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def run_template(preload, sock, folders):
    """Runs in a template: does the work of its preload once, then forks the commands the forkserver sends
    it and reports their exits. If the template dies, the forkserver, the child subreaper, adopts the
    commands it was running, reaps them and reports their exits."""
    started = time.monotonic()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    error = prepare(preload, folders)
    if error:
        send(sock, {"op": "failed", "error": error})
        os._exit(0)
    gc.collect()
    gc.freeze()
    send(sock, {"op": "ready", "ms": int((time.monotonic() - started) * 1000), **memory()})
    own = [sock.fileno(), wake_r, wake_w]
    while True:
        readable = select.select([sock, wake_r], [], [])[0]
        if wake_r in readable:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
            for pid, status in reaped():
                send(sock, {"op": "exited", "pid": pid, "status": status})
        if sock not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
        except OSError:
            data, fds = b"", []
        if not data:
            os._exit(0)  # the forkserver is gone, or has let this template go
        threads = thread_count()
        if len(fds) != 3 or threads != 1:
            for fd in fds:
                os.close(fd)  # the forkserver sees the ready pipe close without a pid, and forks it itself
            if threads != 1:
                send(sock, {"op": "failed", "error": f"the template has {threads} threads; forking it is unsafe"})
                os._exit(0)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            child(json.loads(data), fds[0], fds[1], fds[2], own)
        for fd in fds:
            os.close(fd)


class Template:
    """The forkserver's side of one template."""

    def __init__(self, preload, pid, sock):
        self.preload, self.pid = preload, pid
        self.sock = sock  # None once read to its end
        self.ready = False
        self.error = ""


class ForkServer:
    """The forkserver once warm: it takes the gateway's run requests, forks each command (from the template
    of its preload when one is ready), tells the gateway when each has started and how it exited, and keeps
    its templates in service. Everything it does happens in one thread, in serve's loop."""

    def __init__(self, sock, info):
        self.sock = sock  # the control socket to the gateway
        self.preloads = info["preloads"]
        self.folders = [info["dags_folder"], info["plugins_folder"]]
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()  # written on SIGCHLD: there are children to reap
        os.set_blocking(self.wake_w, False)
        os.set_inheritable(self.wake_r, False)
        os.set_inheritable(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(sock, selectors.EVENT_READ)
        self.sel.register(self.wake_r, selectors.EVENT_READ)
        self.running = {}  # pid -> request id
        self.marks = {}  # pid -> the marker of its command (NAME=VALUE), while it runs
        self.origin = {}  # pid -> the Template that forked it, for commands forked from one
        self.said = {}  # pid -> the read end of its ready pipe, for commands that have not said their exit status
        self.templates = {}  # preload -> Template, for those in service
        self.by_pid = {}  # template pid -> Template, until it is reaped
        self.respawns = {}  # preload -> templates started again after one died in service

    def serve(self):
        """Starts the templates, then hands each event to its method, until the gateway is gone."""
        for preload in sorted(set(self.preloads.values())):
            self.spawn(preload)
        while True:
            for key, _ in self.sel.select():
                if isinstance(key.data, Template):
                    self.from_template(key.data)
                elif isinstance(key.data, int):  # a command's ready pipe
                    try:
                        self.heard(key.data, os.read(key.fd, 64))
                    except OSError:
                        self.forget(key.data)
                elif key.fileobj == self.wake_r:
                    try:
                        os.read(self.wake_r, 4096)
                    except BlockingIOError:
                        pass
                    self.reap()
                else:
                    self.request()

    # Requests: what the gateway sends.

    def request(self):
        """Reads one request from the gateway and starts its command, or refuses it."""
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 2)
        except (ConnectionError, OSError):
            data, fds = b"", []
        if not data:
            self.gateway_gone()
        request = json.loads(data)
        if request.get("op") != "run" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            send(self.sock, {"op": "refused", "id": request.get("id"), "error": "a run request needs two pipes"})
            return
        threads = thread_count()
        if threads != 1:
            for fd in fds:
                os.close(fd)
            names = ", ".join(t.name for t in threading.enumerate())
            send(self.sock, {"op": "refused", "id": request["id"], "threads": threads,
                             "error": f"the forkserver has {threads} threads ({names}); forking it is unsafe"})
            return
        pid, preload, ready_r, rest = self.start(request, fds)
        for fd in fds:
            os.close(fd)
        self.running[pid] = request["id"]
        self.marks[pid] = request.get("mark", "")
        send(self.sock, {"op": "started", "id": request["id"], "pid": pid, "template": preload})
        self.said[pid] = ready_r
        self.sel.register(ready_r, selectors.EVENT_READ, pid)
        if rest:
            self.heard(pid, rest)
        self.reap()

    def gateway_gone(self):
        """The gateway is gone: nothing may outlive it."""
        for pid in self.running:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        kill_marked(self.marks.values())
        for pid in self.by_pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(0)

    # Forks: a command from its template, or from the forkserver itself.

    def start(self, request, fds):
        """Forks the command of a run request, from the template of its preload if one is ready. Returns
        its pid, the template's preload ("" for none), the read end of its ready pipe and what was read
        there."""
        t = self.templates.get(preload_of(self.preloads, request["argv"]))
        if t is not None and t.ready:
            pid, ready_r, rest = self.start_on(t, request, fds)
            if pid:
                self.origin[pid] = t
                return pid, t.preload, ready_r, rest
        sys.stdout.flush()
        sys.stderr.flush()
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            child(request, fds[0], fds[1], ready_w, [ready_r, *self.own_fds()])
        os.close(ready_w)
        _, rest = read_pid(ready_r, 60)  # returns when the child has called setsid (or died)
        return pid, "", ready_r, rest

    def start_on(self, t, request, fds):
        """Has template t fork a command; returns its pid (0 if t did not, and then t is let go), the read
        end of its ready pipe and what it read there after the pid."""
        ready_r, ready_w = os.pipe()
        try:
            socket.send_fds(t.sock, [json.dumps(request).encode()], [fds[0], fds[1], ready_w])
        except OSError as exc:
            os.close(ready_w)
            os.close(ready_r)
            self.let_go(t, f"it could not be sent a command: {exc}")
            return 0, -1, b""
        os.close(ready_w)
        pid, rest = read_pid(ready_r, 10)
        if pid is None:
            # Once the template is dead, only a command it forked can still hold the pipe, and it writes
            # its pid at once: the command runs once or not at all.
            self.let_go(t, "it did not fork a command within 10 seconds")
            pid, rest = read_pid(ready_r, 60)
        if not pid:
            os.close(ready_r)
            if self.templates.get(t.preload) is t:
                self.let_go(t, "it did not fork a command")
            return 0, -1, b""
        return pid, ready_r, rest

    def own_fds(self):
        """The forkserver's own descriptors, which a process it forks closes."""
        return [self.wake_r, self.wake_w, self.sock.fileno(), self.sel.fileno(),
                *(t.sock.fileno() for t in self.by_pid.values() if t.sock)]

    # Exits: what the commands say on their ready pipes, and what the gateway is told.

    def heard(self, pid, data):
        """Takes what command pid wrote on its ready pipe after its pid: its exit status, which is reported
        at once; or, at the end of the pipe, nothing (its reap reports it)."""
        line = data.strip()
        if line.isdigit():
            self.report(pid, int(line) << 8)  # the wait status of an exit with that code
        else:
            self.forget(pid)

    def forget(self, pid):
        """Closes the ready pipe of command pid."""
        fd = self.said.pop(pid, None)
        if fd is not None:
            self.sel.unregister(fd)
            os.close(fd)

    def report(self, pid, status, lost=False):
        """Tells the gateway a command has exited: when it says so on its ready pipe, or when it is reaped."""
        self.forget(pid)
        self.origin.pop(pid, None)
        self.marks.pop(pid, None)
        rid = self.running.pop(pid, None)
        if rid is None:
            return  # an orphan the forkserver adopted as the subreaper, left by a command
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + sig
        send(self.sock, {"op": "exited", "id": rid, "pid": pid, "code": code, "signal": sig, "lost": lost})

    # Reaping: the children that have exited, commands and templates.

    def reap(self):
        for pid, status in reaped():
            if pid in self.by_pid:
                self.template_exited(self.by_pid[pid], status)
            else:
                self.report(pid, status)

    def template_exited(self, t, status):
        """Reports a template that has died, with the exits of its commands, and starts another in its place
        while its preload has not died too often."""
        self.let_go(t, "")
        del self.by_pid[t.pid]
        while t.sock is not None and self.from_template(t, socket.MSG_DONTWAIT):
            pass  # the exits it reported before it died
        if t.sock is not None:
            self.sel.unregister(t.sock)
            t.sock.close()
            t.sock = None
        # Its commands still running are the forkserver's children now; one it reaped without a word
        # before dying has lost its exit status.
        for pid in [pid for pid, o in self.origin.items() if o is t]:
            try:
                done, st = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                self.report(pid, 0, lost=True)
                continue
            if done:
                self.report(pid, st)
        if os.WIFSIGNALED(status):
            how = f"it was killed by signal {os.WTERMSIG(status)}"
        else:
            how = f"it exited with status {os.WEXITSTATUS(status)}"
        why = t.error or how
        again = t.ready and self.respawns.get(t.preload, 0) < 3
        then = "; its commands fork from the forkserver" + (" until a new template is ready" if again else "")
        send(self.sock, {"op": "template", "preload": t.preload, "pid": t.pid, "error": why + then})
        if again:
            self.respawns[t.preload] = self.respawns.get(t.preload, 0) + 1
            self.spawn(t.preload)

    # Templates: started, heard and let go.

    def spawn(self, preload):
        """Forks a template for preload, which tells on its socket when it is ready."""
        if thread_count() != 1:
            send(self.sock, {"op": "template", "preload": preload,
                             "error": "the forkserver has threads: forking it is unsafe"})
            return
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        inherited = self.own_fds()
        pid = os.fork()
        if pid == 0:
            try:
                mine.close()
                for fd in inherited:
                    os.close(fd)
                run_template(preload, theirs, self.folders)
            finally:
                os._exit(1)
        theirs.close()
        t = Template(preload, pid, mine)
        self.templates[preload] = self.by_pid[pid] = t
        self.sel.register(mine, selectors.EVENT_READ, t)

    def from_template(self, t, flags=0):
        """Reads what template t says; returns False at the end of its socket (which it then closes)."""
        try:
            data = t.sock.recv(MAX_MESSAGE, flags)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(t.sock)
            t.sock.close()
            t.sock = None
            self.let_go(t, "")  # it is dying: the reap says how
            return False
        m = json.loads(data)
        if m.get("op") == "exited":
            self.report(m["pid"], m["status"])
        elif m.get("op") == "ready":
            t.ready = True
            send(self.sock, {**m, "op": "template", "preload": t.preload, "pid": t.pid, "ready": True,
                             "commands": sorted(p for p, c in self.preloads.items() if c == t.preload)})
        else:
            self.let_go(t, m.get("error") or "it failed")
        return True

    def let_go(self, t, why):
        """Takes a template out of service and kills it; its socket is read to its end, and the reap
        reports it."""
        if self.templates.get(t.preload) is t:
            del self.templates[t.preload]
        t.error = t.error or why
        try:
            os.kill(t.pid, signal.SIGKILL)
        except OSError:
            pass


def become_subreaper():
    """Makes orphaned descendants children of this process (Linux's PR_SET_CHILD_SUBREAPER); returns why
    not, or ""."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            return os.strerror(ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        return str(exc)
    return ""


def main():
    sock = socket.socket(fileno=CONTROL_FD)
    os.set_inheritable(CONTROL_FD, False)
    request = json.loads(sock.recv(MAX_MESSAGE) or b"{}")
    try:
        info = warm(request)
    except BaseException as exc:  # the gateway logs it and runs commands as subprocesses
        send(sock, {"op": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise
    if info["preloads"]:
        why = become_subreaper()
        if why:
            info["templates_off"] = f"the forkserver cannot adopt its templates' commands ({why})"
            info["preloads"] = {}
    send(sock, {"op": "ready", **info})
    # What warming up made is never garbage: the children's collections need not walk it, nor copy the
    # pages it lies on.
    gc.collect()
    gc.freeze()
    ForkServer(sock, info).serve()


if __name__ == "__main__":
    main()
