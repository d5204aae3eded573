"""Pure metric functions: polars frames in, typed results (:mod:`rfa.metrics.models`) out.

No I/O and no globals. ``sessions`` implements METRICS.md §3 (summary, time
series, top flows / engineers, data quality); ``flow`` the flow dashboard rows
(CSAT, step table, recent comments).
"""
