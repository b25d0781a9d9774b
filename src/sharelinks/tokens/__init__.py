"""Access tokens: how API clients prove who they are and what they may do."""
