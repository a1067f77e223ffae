"""Entry point: answers --version before anything heavy is imported."""

from __future__ import annotations

import os
import sys


def main() -> None:
    try:
        try:
            if sys.argv[1:] in (["--version"], ["-V"]):
                from orcli import __version__

                sys.stdout.write(f"orcli {__version__}\n")
                return
            from orcli.cli import run

            run()
        finally:  # here, not in the interpreter's exit, where a failed flush is ignored with exit 120
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:  # `orcli --help | head -1`: quiet, as for every command
        _silence_stdout()
        sys.exit(0)
    except OSError as exc:
        # What runs outside the command wrapper (--version, --help, usage errors) writes only to stdout and
        # stderr: a full disk or a closed stream is one line and exit 1, not a traceback (docs/failures.md#exit-codes).
        _silence_stdout()
        try:
            sys.stderr.write(f"orcli: error: cannot write the output: {exc.strerror or exc}\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        sys.exit(1)


def _silence_stdout() -> None:
    """What is still buffered for stdout goes to /dev/null, quietly, at the interpreter's final flush."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    main()
