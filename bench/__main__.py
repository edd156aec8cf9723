"""Every benchmark of the harness core in one run: environment up time, then the load
generator against wrk. Prints their tables; asserts nothing.

Run: .venv/bin/python -m bench   (each part alone: -m bench.environment, -m bench.load)
"""

from __future__ import annotations

import sys

from bench import environment, load

if __name__ == "__main__":
    sys.argv = sys.argv[:1]  # each part reads its own defaults
    environment.main()
    print()
    sys.exit(load.main())
