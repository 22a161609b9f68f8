"""The installed distribution's version (``nemo_flow.__version__``)."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("nemo-flow")
except metadata.PackageNotFoundError:  # a source tree on sys.path without installed metadata
    __version__ = "0+unknown"
