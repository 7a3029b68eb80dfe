"""Deterministic workflow code only: no I/O, no clock, no settings, no database."""
