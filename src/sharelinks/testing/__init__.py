"""Helpers for tests, importable by users' own test suites: a live server in a thread, databases."""
