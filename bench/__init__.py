"""Benchmarks of ResolutionFlow Analytics (issue 6): ``make bench`` runs :mod:`bench.run`.

Nothing here is imported by the library or the tests; timings are never asserted in
``tests/``. See ``bench/README.md``.
"""
