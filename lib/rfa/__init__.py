"""ResolutionFlow Analytics: query, metric and publishing library behind the dashboards.

Rooms (see docs/ARCHITECTURE-notes in README): ``config`` (settings from the
environment), ``errors`` (user-facing errors), ``db`` (source schema and read
connections), ``window`` (account/period/as_of parameters), ``queries`` (account-
scoped SQLAlchemy Core builders returning polars frames), ``metrics`` (pure
functions), ``dashboards`` (one loader per page), ``charts``, ``demo``,
``publish`` and ``cli``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("resolutionflow-analytics")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

KERNEL_NAME = "resolutionflow-analytics"
"""The one pinned Jupyter kernel name (Makefile, notebooks, papermill, Quarto)."""
