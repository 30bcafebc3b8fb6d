"""Runner: `python -m benchmarks` lists the benchmarks; `python -m benchmarks NAME [args]` runs one.

Each benchmark is a module `benchmarks/<name>.py` with a `main(argv) -> int` that prints its own report,
every figure side by side with the baseline measured in the same run.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m benchmarks NAME [options]\n\nbenchmarks:\n" + "\n".join(f"  {n}" for n in names))
        return 0
    if argv[0] not in names:
        print(f"error: unknown benchmark {argv[0]!r}; choose one of: {', '.join(names)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(f"benchmarks.{argv[0]}").main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
