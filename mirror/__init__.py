"""pocket-mirror: a complete, queryable local mirror of Pocket recordings."""

from __future__ import annotations

__version__ = "0.1.0"
