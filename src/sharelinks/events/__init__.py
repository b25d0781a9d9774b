"""Event intake: person upsert, the event row, and the reactions that run in the same transaction."""
