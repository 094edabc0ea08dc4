"""The reliability suite: ``python -m tests.reliability [--slow]``."""
