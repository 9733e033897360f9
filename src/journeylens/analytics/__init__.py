"""Analyses: each a function of (a workspace's tables, a typed spec) → a typed result.

Every analysis builds one engine expression (``build_*``), executes it once (``run_*``) and
returns a result with ``.to_frame()``, ``.to_dict()``, ``.figure()`` and the SQL it ran.
"""
