"""Sharelinks: a personal referral share link for every customer, before they ever ask for one."""

__version__ = "0.1.0"
