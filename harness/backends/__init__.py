"""Backends that run a topology."""
