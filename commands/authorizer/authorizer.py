"""The gateway's authorizer: asks Airflow's own auth manager what an Airflow user may do (SPEC §20).

It reads one JSON request per line on stdin and writes one JSON answer per line on stdout, and nothing else
goes to stdout. Its first line says whether it can answer:

  {"ready": true, "auth_manager": "airflow....SimpleAuthManager", "kind": "simple"}
  {"ready": false, "auth_manager": "...", "unsupported": true, "error": "..."}     (another auth manager)
  {"ready": false, "error": "..."}                                               (it could not start)

Then, per request:

  {"user": "alice", "checks": [{"resource": "dag", "method": "PUT", "id": "etl"}, ...], "dags": true}
  -> {"user_found": true, "allowed": [true, ...], "dags": ["etl", ...]}   ("dags" only when asked)
  -> {"error": "..."}                                                    (the manager could not answer)

A resource is one of dag, variable, connection, pool, configuration (its id is the section) and view (its
id an AccessView name, such as PROVIDERS). "dags" asks for the ids of the DAGs the user may read.

The warm executor runs it in a child of its forkserver, which keeps the auth manager initialised and
answers until the gateway closes the socket that is its stdin and stdout; the subprocess executor runs it
with Airflow's Python (`python -c SCRIPT airflow-gateway-authorizer`) for one request on stdin. It is the
gateway's own: no client's words reach it but as the values of a request.

Three kinds of manager answer: Airflow 3's simple auth manager (teams included), FAB's auth manager (the
provider's, on Airflow 2.8 and later and on Airflow 3), and before Airflow 2.8, FAB's security manager of
airflow.www. Another auth manager is not asked: the gateway refuses its users on the CLI dialects.
"""

import sys

if sys.path and sys.path[0] == "":
    # Run with -c: the working folder (AIRFLOW_HOME) leads the import path; the airflow script runs
    # without it, and so does this.
    del sys.path[0]

import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

METHODS = ("GET", "POST", "PUT", "DELETE")


def airflow_major():
    from airflow import __version__

    return int(__version__.split(".")[0]), __version__


class Simple:
    """Airflow 3's simple auth manager: users and roles (and teams) from [core] simple_auth_manager_users."""

    kind = "simple"

    def __init__(self, manager):
        from airflow.configuration import conf

        self.am = manager
        self.all_admins = conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False)
        self.multi_team = conf.getboolean("core", "multi_team", fallback=False)
        self.users = {}
        for u in manager.get_users():
            if isinstance(u, dict):
                # Airflow 3.0 lists its users as dicts of a name and a role.
                from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

                u = SimpleAuthManagerUser(username=u["username"], role=u.get("role"))
            self.users[u.username] = u

    def user(self, name):
        if self.all_admins:
            from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

            return SimpleAuthManagerUser(username=name, role="admin")
        return self.users.get(name)

    def team_of_dag(self, dag_id):
        if not self.multi_team or not dag_id:
            return None
        from airflow.models.dag import DagModel

        return DagModel.get_team_name(dag_id)

    def team_of(self, model, key):
        if not self.multi_team or not key:
            return None
        getter = getattr(model, "get_team_name", None)
        return getter(key) if getter else None

    def check(self, user, c):
        from airflow.api_fastapi.auth.managers.models import resource_details as rd

        return ask3(self.am, rd, user, c, self)

    def dags(self, user):
        return sorted(self.am.get_authorized_dag_ids(user=user, method="GET"))

    def begin(self):
        pass


def ask3(am, rd, user, c, teams):
    """Asks an Airflow 3 auth manager one check."""
    r, m, i = c["resource"], c["method"], c.get("id") or None

    def details(cls, team, **fields):
        # A team only where there is one: the details of Airflow 3.0 have no team_name.
        if team is not None:
            fields["team_name"] = team
        return cls(**fields)

    if r == "dag":
        return am.is_authorized_dag(method=m, user=user, details=details(rd.DagDetails, teams.team_of_dag(i), id=i))
    if r == "variable":
        from airflow.models.variable import Variable

        return am.is_authorized_variable(method=m, user=user,
                                         details=details(rd.VariableDetails, teams.team_of(Variable, i), key=i))
    if r == "connection":
        from airflow.models.connection import Connection

        return am.is_authorized_connection(method=m, user=user,
                                           details=details(rd.ConnectionDetails, teams.team_of(Connection, i), conn_id=i))
    if r == "pool":
        from airflow.models.pool import Pool

        return am.is_authorized_pool(method=m, user=user,
                                     details=details(rd.PoolDetails, teams.team_of(Pool, i), name=i))
    if r == "configuration":
        return am.is_authorized_configuration(method=m, user=user, details=rd.ConfigurationDetails(section=i))
    if r == "view":
        return am.is_authorized_view(access_view=rd.AccessView[i], user=user)
    return False


def ask2(am, rd, user, c):
    """Asks an Airflow 2 auth manager one check."""
    r, m, i = c["resource"], c["method"], c.get("id") or None
    if r == "dag":
        return am.is_authorized_dag(method=m, user=user, details=rd.DagDetails(id=i))
    if r == "variable":
        return am.is_authorized_variable(method=m, user=user, details=rd.VariableDetails(key=i))
    if r == "connection":
        return am.is_authorized_connection(method=m, user=user, details=rd.ConnectionDetails(conn_id=i))
    if r == "pool":
        return am.is_authorized_pool(method=m, user=user, details=rd.PoolDetails(name=i))
    if r == "configuration":
        return am.is_authorized_configuration(method=m, user=user, details=rd.ConfigurationDetails(section=i))
    if r == "view":
        return am.is_authorized_view(access_view=rd.AccessView[i], user=user)
    return False


class NoTeams:
    @staticmethod
    def team_of_dag(_):
        return None

    @staticmethod
    def team_of(_, __):
        return None


class Fab:
    """FAB's auth manager: users, roles and DAG-level permissions in Airflow's metadata DB. It answers inside
    the Flask app's context, and lists DAG ids inside a request's."""

    kind = "fab"

    def __init__(self, app, manager, major):
        self.app, self.am, self.major = app, manager, major
        self.sm = manager.security_manager if major >= 3 else app.appbuilder.sm

    def begin(self):
        # Roles and permissions change in the DB: nothing read for an earlier request is reused.
        with contextlib.suppress(Exception):
            self.sm.get_session.rollback()
            self.sm.get_session.expire_all()

    def user(self, name):
        return self.sm.find_user(username=name)

    def check(self, user, c):
        if self.major >= 3:
            from airflow.api_fastapi.auth.managers.models import resource_details as rd

            return ask3(self.am, rd, user, c, NoTeams)
        from airflow.auth.managers.models import resource_details as rd

        return ask2(self.am, rd, user, c)

    def dags(self, user):
        if self.major >= 3:
            return sorted(self.am.get_authorized_dag_ids(user=user, method="GET"))
        with self.app.test_request_context():
            return sorted(self.am.get_permitted_dag_ids(methods=["GET"], user=user))


class Legacy:
    """Before Airflow 2.8, FAB's security manager of airflow.www answers for itself."""

    kind = "fab"
    ACTIONS = {"GET": "can_read", "POST": "can_create", "PUT": "can_edit", "DELETE": "can_delete"}
    RESOURCES = {"variable": "Variables", "connection": "Connections", "pool": "Pools",
                 "configuration": "Configurations"}
    VIEWS = {"PROVIDERS": "Providers", "JOBS": "Jobs", "IMPORT_ERRORS": "ImportError", "PLUGINS": "Plugins"}

    def __init__(self, app):
        self.app, self.sm = app, app.appbuilder.sm

    def begin(self):
        with contextlib.suppress(Exception):
            self.sm.get_session.rollback()
            self.sm.get_session.expire_all()

    def user(self, name):
        return self.sm.find_user(username=name)

    def check(self, user, c):
        r, m, i = c["resource"], c["method"], c.get("id") or None
        if r == "dag":
            if m == "GET":
                return self.sm.can_read_dag(i, user) if i else self.sm.can_read_all_dags(user)
            if m == "DELETE":
                return self.sm.can_delete_dag(i, user) if i else False
            return self.sm.can_edit_dag(i, user) if i else self.sm.can_edit_all_dags(user)
        resource = self.RESOURCES.get(r) or (self.VIEWS.get(i) if r == "view" else None)
        if not resource:
            return False
        action = "can_read" if r == "view" else self.ACTIONS[m]
        return self.sm.has_access(action, resource, user)

    def dags(self, user):
        return sorted(self.sm.get_readable_dag_ids(user))


def start():
    """Makes the manager of the configured Airflow; returns it and its class's path, or raises
    Unsupported."""
    major, version = airflow_major()
    if major >= 3:
        from airflow.api_fastapi.app import create_auth_manager, get_auth_manager_cls

        cls = get_auth_manager_cls()
        path = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__name__ == "SimpleAuthManager":
            return Simple(create_auth_manager()), path
        if cls.__name__ == "FabAuthManager":
            from airflow.providers.fab.www.app import create_app

            app = create_app(enable_plugins=False)
            app.app_context().push()
            from airflow.api_fastapi.app import get_auth_manager

            return Fab(app, get_auth_manager(), major), path
        raise Unsupported(path)
    parts = tuple(int(p) for p in version.split(".")[:2])
    if parts < (2, 8):
        from airflow.configuration import conf

        path = conf.get("webserver", "security_manager_class", fallback="") or "airflow.www.security.AirflowSecurityManager"
        from airflow.www.app import create_app

        app = create_app()
        app.app_context().push()
        return Legacy(app), path
    from airflow.www.extensions.init_auth_manager import get_auth_manager_cls

    cls = get_auth_manager_cls()
    path = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__name__ != "FabAuthManager":
        raise Unsupported(path)
    from airflow.www.app import create_app

    app = create_app()
    app.app_context().push()
    from airflow.www.extensions.init_auth_manager import get_auth_manager

    return Fab(app, get_auth_manager(), major), path


class Unsupported(Exception):
    pass


def answer(manager, request):
    checks = request.get("checks") or []
    manager.begin()
    user = manager.user(request["user"])
    if user is None:
        out = {"user_found": False, "allowed": [False] * len(checks)}
        if request.get("dags"):
            out["dags"] = []
        return out
    allowed = []
    for c in checks:
        if c.get("method") not in METHODS:
            allowed.append(False)
            continue
        allowed.append(bool(manager.check(user, c)))
    out = {"user_found": True, "allowed": allowed}
    if request.get("dags"):
        out["dags"] = list(manager.dags(user))
    return out


def main():
    # What Airflow prints while starting (a Flask app, its log) must not reach stdout, the channel.
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        manager, path = start()
    except Unsupported as exc:
        channel.write(json.dumps({"ready": False, "unsupported": True, "auth_manager": str(exc),
                                  "error": f"the auth manager {exc} is neither the simple auth manager nor FAB's"}) + "\n")
        return 0
    except Exception as exc:
        channel.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    channel.write(json.dumps({"ready": True, "auth_manager": path, "kind": manager.kind}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = answer(manager, json.loads(line))
        except Exception as exc:
            out = {"error": f"{type(exc).__name__}: {exc}"}
        channel.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
