"""Real Rego engines behind one small interface (``programs``), and OPA in
worker processes for large batches (``pool``, ``worker``). Kept apart from
``policygen.engines`` so that a worker starts without importing the rest of
policygen."""
