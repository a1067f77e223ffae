"""Entry point: answers --version before anything heavy is imported."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from orcli import __version__

        sys.stdout.write(f"orcli {__version__}\n")
        return
    from orcli.cli import run

    run()


if __name__ == "__main__":
    main()
