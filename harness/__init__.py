"""chaos-harness: the pytest plugin."""
