"""The release state machine: a pure decision from spec, status and observations to a plan."""
