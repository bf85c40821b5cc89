"""Metric sources behind one small Protocol: they fetch values for canary and baseline, never judge."""
