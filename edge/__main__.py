"""``python -m edge`` is the ``gridedge`` command."""

from edge.cli import main

main()
