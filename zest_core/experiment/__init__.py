"""``zest experiment``: a declared grid (``grid``), its plan (``planning``), the run loop over
its arms (``run``, ``arms``) and the report (``report``, ``stats``, ``plots``)."""
