"""``python -m agentflight`` runs the console script."""

from agentflight.cli import main

main()
