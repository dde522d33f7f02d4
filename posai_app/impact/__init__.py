"""Measured impact: recommendation ids, POS events, attributed orders, and the live figures."""
