"""The one error the Rego layer raises (kept apart so every module of
``policygen.rego`` can import it without importing an engine)."""

from __future__ import annotations

from policygen.errors import PolicygenError


class RegoError(PolicygenError):
    """A module failed to compile or a query failed to evaluate."""
