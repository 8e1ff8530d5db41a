"""Write the catalog of the installed Airflow's CLI as JSON on stdout.

Run it with the interpreter of the Airflow installation to describe:

    AIRFLOW_HOME=$(mktemp -d) path/to/venv/bin/python generate.py > airflow-3.json

It walks the argparse tree that `airflow` itself builds and records, for every command,
its positionals and flags. Defaults are left out: several depend on the machine
(the dags folder, for one), and the gateway never relies on them.
"""
import argparse
import json
import sys


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


def main():
    # Airflow may log to stdout as it loads (3.0 does, as alembic registers its plugins): that goes to
    # stderr, so that stdout is the catalog alone.
    out, sys.stdout = sys.stdout, sys.stderr
    from airflow import __version__
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    commands = []
    walk(parser, [], commands)
    json.dump({"airflow_version": __version__, "commands": commands}, out, indent=1, sort_keys=True)
    out.write("\n")


if __name__ == "__main__":
    main()
