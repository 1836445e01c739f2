"""Checkpoint experiments driven through the real CLI."""
