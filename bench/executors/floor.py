"""The floor of an Airflow command: the time of its own work in a process that has everything it needs.

Run with the Python of an Airflow installation (AIRFLOW_HOME set):

    python floor.py N ARGS...

It imports Airflow's CLI as the `airflow` script does, parses ARGS, and runs the command's function once
to warm up (the lazy imports, provider discovery, the ORM's first connection, whatever the command does
once per process). It then runs the function N more times, each on freshly parsed arguments, with the
output thrown away, and prints the median of those N runs in milliseconds: what is left when nothing is
paid for starting, importing or initialising. A command that exits (SystemExit) counts as run.
"""

import contextlib
import os
import statistics
import sys
import time


def run_once(parser, argv):
    args = parser.parse_args(argv)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        started = time.perf_counter()
        try:
            args.func(args)
        except SystemExit:
            pass
        return time.perf_counter() - started


def main():
    n, argv = int(sys.argv[1]), sys.argv[2:]
    import airflow.__main__  # noqa: F401  the configuration first, as the airflow script does
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    run_once(parser, argv)
    times = [run_once(parser, argv) for _ in range(n)]
    print(f"{statistics.median(times) * 1000:.1f}")


if __name__ == "__main__":
    main()
