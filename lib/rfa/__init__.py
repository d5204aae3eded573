"""ResolutionFlow Analytics: query, metric and publishing library behind the dashboards.

Rooms (see docs/ARCHITECTURE-notes in README): ``config`` (settings from the
environment), ``errors`` (user-facing errors), ``db`` (source schema and read
connections), ``window`` (account/period/as_of parameters), ``queries`` (account-
scoped SQLAlchemy Core builders returning polars frames), ``metrics`` (pure
functions), ``dashboards`` (one loader per page), ``charts``, ``demo``,
``publish`` and ``cli``.

Importing the package is cheap (every kernel and the CLI do it first): ``__version__``
is read from the installed metadata only when it is first used.
"""

KERNEL_NAME = "resolutionflow-analytics"
"""The one pinned Jupyter kernel name (Makefile, notebooks, papermill, Quarto)."""


def _read_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("resolutionflow-analytics")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> str:
    # importlib.metadata (and its e-mail header parser) costs 50-300 ms: only when asked.
    if name == "__version__":
        value = _read_version()
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
