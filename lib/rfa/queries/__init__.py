"""Account-scoped SQLAlchemy Core query builders, one module per source domain.

Every builder takes the ``account_id`` as its first, required argument and puts
an account filter in its WHERE clause (directly, or through ``trees.account_id``
for ``sessions``, which has no account column). Values are bound parameters,
never formatted into SQL. ``fetch`` runs a builder's statement and returns a
polars DataFrame with the builder's documented schema (also when empty).
"""

from rfa.queries._fetch import fetch

__all__ = ["fetch"]
