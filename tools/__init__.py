"""Repository scripts: package discovery, the layer and pin checks, the wheel builder.

Everything here is standard library only (``check_pins`` also uses ``packaging``), so the
noxfile, tox and the bootstrap script can import it from any environment.
"""
