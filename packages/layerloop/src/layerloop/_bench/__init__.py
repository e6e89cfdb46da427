"""The benchmarks behind ``python -m layerloop bench``.

:mod:`._cases` holds the benchmarks, :mod:`._child` runs one of them on one loop in a
fresh process, :mod:`._runner` drives the children and prints the table.  Nothing is
imported here, so a child process loads only what it runs.
"""

__all__: list[str] = []
