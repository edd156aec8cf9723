"""Faults as values."""
