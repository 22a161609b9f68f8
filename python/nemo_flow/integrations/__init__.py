"""Drop-in integrations: pure Python over the public API, each behind an optional extra.

Importing this package imports no SDK; each integration module imports its SDK lazily.
"""

from __future__ import annotations

__all__: list[str] = []
