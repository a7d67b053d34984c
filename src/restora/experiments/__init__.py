"""Reproducible experiments over the library: measurement sets (:mod:`.measurements`), method specs and
the settings and NFE they run with (:mod:`.methods`), scoring (:mod:`.scoring`), result records and
their merging (:mod:`.records`), and the Markdown tables that documents are filled with
(:mod:`.tables`, :mod:`.documents`). The scripts in ``benchmarks/`` are thin ``main()`` functions over
these; the CLI's ``restora bench`` and the tuning that ships settings with the weights use them too.
"""
