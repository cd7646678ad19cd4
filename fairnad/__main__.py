"""``fairnad`` console script and ``python -m fairnad``."""

from __future__ import annotations

import sys


def main() -> None:
    from fairnad import ShadowedPackageError, check_packages

    try:
        check_packages()
    except ShadowedPackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from graph.cli import run_cli

    run_cli()


if __name__ == "__main__":
    main()
