"""Executing a run on Ray: the plan of passes (runner.py), its hosts and work units, the console."""
