"""What every client program here shares: failing with one clear `FAIL:` line and exit code 1."""

import sys


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def check(condition, message):
    """Fails unless `condition`; `message` may be a callable, built only on failure."""
    if not condition:
        fail(message() if callable(message) else message)
