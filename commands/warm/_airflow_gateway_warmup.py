"""The forkserver's warm-up: what it imports and prepares before it forks a command, the preloads of the
commands (the work their templates do ahead), and that work, done in a template.

forkserver.py imports it by this name, which no other code imports; it describes the whole.
"""

import importlib
import os
import sys
import tempfile
import threading
import time

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
