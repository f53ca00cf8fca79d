"""What every command-line entry script shares: user mistakes end in a message, not a traceback."""

import functools
import sys


def user_errors_as_messages(body):
    """Wraps the body of an absl `main(argv)`.

    Unexpected positional arguments, and ValueError / OSError raised by the body (bad flags,
    missing or unreadable files), print `Error: <message>` on stderr and give exit status 1.
    The body takes no arguments and returns the exit status (None means 0).
    """
    @functools.wraps(body)
    def main(argv):
        if len(argv) > 1:
            print(f"Error: unexpected arguments {' '.join(argv[1:])}", file=sys.stderr)
            return 1
        try:
            return body() or 0
        except (ValueError, OSError) as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1
    return main
