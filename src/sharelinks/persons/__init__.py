"""Persons: the customers who get share links. Email is the primary identity, partner_user_id the second."""
