"""Every benchmark of the harness core in one run: environment up time, then the load
generator against wrk. Prints their tables; asserts nothing.

Run: .venv/bin/python -m bench   (each part alone: -m bench.environment, -m bench.load)
     .venv/bin/python -m bench --smoke   # each part in its smoke mode: seconds
"""

from __future__ import annotations

import argparse
import sys

from bench import environment, load, tools


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="each part in its smoke mode")
    smoke = ["--smoke"] if parser.parse_args().smoke else []
    sys.argv = [sys.argv[0], *smoke]  # each part reads its own defaults
    environment.main()
    print()
    return load.main()


if __name__ == "__main__":
    sys.exit(tools.run(main))
