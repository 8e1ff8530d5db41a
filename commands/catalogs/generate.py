"""Write the catalog of the installed Airflow's CLI as JSON on stdout.

Run it with the interpreter of the Airflow installation to describe:

    AIRFLOW_HOME=$(mktemp -d) path/to/venv/bin/python generate.py > airflow-3.3.2.json

It walks the argparse tree that `airflow` itself builds and records, for every command,
its positionals and flags. Defaults are left out: several depend on the machine
(the dags folder, for one), and the gateway never relies on them.

The gateway carries this script and runs it at start, with `--out FILE` to write the catalog
to FILE instead of stdout (Airflow may print log lines on stdout). With `--identity`, it
prints what the installation is without importing Airflow, which takes a few milliseconds:
Airflow's version, the site-packages folder and the distributions installed there.
"""
import sys

# Run as `python -c`, the working folder comes first on the path: a module there must not stand in for the
# standard library's.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402


def type_name(action):
    kind = action.type
    if kind is None:
        return "string"
    name = getattr(kind, "__name__", type(kind).__name__)
    # Airflow's own converters, named after what they accept.
    return {"str": "string", "int": "int", "float": "float", "positive_int": "positive_int", "_check": "positive_int",
            "parse": "datetime", "parsedate": "datetime", "loads": "json", "string_list_type": "list"}.get(name, name)


def describe_action(action):
    switches = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction,
                argparse.BooleanOptionalAction)
    if isinstance(action, switches):
        kind = "switch"
    elif isinstance(action, argparse._CountAction):
        kind = "count"
    elif isinstance(action, argparse._AppendAction):
        kind = "append"
    else:
        kind = "value"
    entry = {"dest": action.dest, "kind": kind}
    if action.option_strings:
        entry["flags"] = sorted(action.option_strings, key=lambda s: (len(s), s))
    if kind in ("value", "append"):
        entry["type"] = type_name(action)
        if action.nargs is not None:
            entry["nargs"] = str(action.nargs)
        if action.choices is not None:
            choices = [str(c) for c in action.choices]
            # A set has no order of its own: sort it, so that the catalog is the same on every run.
            entry["choices"] = sorted(choices) if isinstance(action.choices, (set, frozenset)) else choices
    if action.required:
        entry["required"] = True
    if action.help and action.help != argparse.SUPPRESS:
        entry["help"] = " ".join(str(action.help).split())
    return entry


def walk(parser, path, out):
    sub = None
    positionals, flags = [], []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action
        elif isinstance(action, argparse._HelpAction):
            continue
        elif action.option_strings:
            flags.append(describe_action(action))
        else:
            positionals.append(describe_action(action))
    if sub is not None:
        for name in sorted(sub.choices):
            walk(sub.choices[name], path + [name], out)
        return
    out.append({
        "path": " ".join(path),
        "help": " ".join(str(parser.description or "").split()),
        "positionals": positionals,
        "flags": sorted(flags, key=lambda f: f["flags"][-1]),
    })


def airflow_version(metadata):
    """The installed Airflow's version: apache-airflow's, or on Airflow 3 apache-airflow-core's alone."""
    try:
        return metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return metadata.version("apache-airflow-core")


def identity():
    import importlib.metadata
    import os
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    try:
        names = os.listdir(site)
    except OSError:
        names = []
    return {
        "version": airflow_version(importlib.metadata),
        "site_packages": site,
        "distributions": sorted(n for n in names if n.endswith(".dist-info")),
    }


def catalog():
    from airflow import __version__
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    commands = []
    walk(parser, [], commands)
    return {"airflow_version": __version__, "commands": commands}


def main():
    args = argparse.ArgumentParser(description="Describe the installed Airflow's CLI.")
    args.add_argument("--identity", action="store_true", help="print the installation's identity, without importing Airflow")
    args.add_argument("--out", help="write the catalog to this file instead of stdout")
    opts = args.parse_args()
    if opts.identity:
        json.dump(identity(), sys.stdout)
        sys.stdout.write("\n")
        return
    # Some releases (3.0) log to stdout while their CLI is imported: whatever they print goes to stderr,
    # and the catalog alone to stdout.
    stdout = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    data = json.dumps(catalog(), indent=1, sort_keys=True) + "\n"
    if opts.out:
        with open(opts.out, "w") as out:
            out.write(data)
    else:
        stdout.write(data)
        stdout.flush()


if __name__ == "__main__":
    main()
