"""policygen: admission policies that pin images by digest and pull them every time."""

from __future__ import annotations

__version__ = "0.1.0"
