"""``python -m orderbell``: the command line."""

from orderbell.cli import main

main()
