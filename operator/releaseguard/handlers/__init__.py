"""kopf handlers: thin wiring from events to observe, decide and act."""
