"""``python -m benchmarks ...`` (run from the repository root)."""

from .runner import main

if __name__ == "__main__":
    raise SystemExit(main())
