"""What runs in the processes the forkserver forks: a command's child, and a template, which forks commands
of its own; and what the forkserver needs of them: their ready pipes, their exits, and the markers of their
commands.

forkserver.py imports it by this name, which no other code imports; it describes the whole.
"""

import atexit
import ctypes
import gc
import json
import os
import runpy
import select
import signal
import socket
import sys
import threading
import time

from _airflow_gateway_warmup import prepare, thread_count

MAX_MESSAGE = 1 << 20

# The gateway's own scripts, which a run request may name ("script") for its child to run instead of the
# airflow script of its argv, by name: files the gateway wrote beside this module. Only the gateway's own
# reads send one (the DAG index, Airflow's permissions); a client's command is argv alone, whatever its
# words, and runs Airflow's CLI.
GATEWAY_SCRIPTS = {"dag_index": "_airflow_gateway_dag_index.py", "authorizer": "_airflow_gateway_authorizer.py"}
# The scripts that converse: their stdout is a socket, which is their stdin too.
CONVERSING = {"authorizer"}
HERE = os.path.dirname(os.path.abspath(__file__))


def send(sock, message):
    sock.send(json.dumps(message).encode())


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
    """Runs in the forked child: becomes its own session, takes the pipes, and runs Airflow's CLI (or the
    gateway's script that the request names)."""
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
        os.dup2(out_fd if request.get("script") in CONVERSING else null, 0)
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
        if request.get("script"):
            sys.argv = [os.path.join(HERE, GATEWAY_SCRIPTS[request["script"]])]
        script = sys.argv[0]
        try:
            # The airflow script itself, as Python runs it: Airflow's own entry point, the script's frame
            # at the top of a traceback. (Or the gateway's script, as Python would run that.)
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
