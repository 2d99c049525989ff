"""``python -m sim.apps.cli``: the ``metasim`` command."""

from . import main

if __name__ == "__main__":
    main()
