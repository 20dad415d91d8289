"""``python -m sim.cli``: the same as the ``surgisim`` command."""

from sim.cli import main

main()
