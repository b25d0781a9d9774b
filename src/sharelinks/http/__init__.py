"""What every API route shares: the error envelope, auth and scopes, JSON bodies, paging."""
