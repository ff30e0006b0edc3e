"""Allow `python -m evault`."""

from evault.cli import main

main()
