"""The warm executor's forkserver: imports Airflow once, then forks one child per command.

The gateway writes it in a folder of its own, beside the two modules it imports (_airflow_gateway_warmup:
the warm-up, and the work of the templates; _airflow_gateway_child: what runs in the processes it forks)
and the script that reads the DAG index (_airflow_gateway_dag_index.py, which a child runs when asked),
runs it with the Python interpreter of the configured Airflow, as `python FILE airflow-gateway-forkserver`,
and hands it one end of a socketpair as file descriptor 3. Messages are JSON, one per SOCK_SEQPACKET packet.

  gateway -> forkserver  {"op": "warm", "paths": ["dags list", ...], "binary": "/.../airflow"}  (first)
  forkserver -> gateway  {"op": "ready", ...what it loaded...} or {"op": "failed", "error": "..."}
  gateway -> forkserver  {"op": "run", "id": N, "argv": [...], "env": [...], "cwd": "...", "mark": "NAME=..."}
                         with the write ends of the child's stdout and stderr pipes (SCM_RIGHTS); with
                         "script": "NAME", the child runs the gateway's own script of that name (the DAG
                         index's, _airflow_gateway_child.GATEWAY_SCRIPTS) instead of argv, forked from the
                         forkserver itself
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

import ctypes
import gc
import json
import os
import selectors
import signal
import socket
import sys
import threading

# The forkserver's other modules, beside this file: Python puts the folder of the script it runs first on
# the import path (warm then puts the airflow script's there instead). No bytecode is written for them, so
# that the folder holds only the files the gateway wrote and checked.
_write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
from _airflow_gateway_child import MAX_MESSAGE, child, kill_marked, read_pid, reaped, run_template, send
from _airflow_gateway_warmup import preload_of, thread_count, warm

sys.dont_write_bytecode = _write_bytecode

CONTROL_FD = 3


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
        t = None if request.get("script") else self.templates.get(preload_of(self.preloads, request["argv"]))
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
