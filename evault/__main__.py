"""Allow `python -m evault`: the `evault` command, with the host's commands."""

from evault_client.cli import main

main()
