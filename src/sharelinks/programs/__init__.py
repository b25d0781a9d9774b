"""Programs: a label, the domains its links live on, and where a click lands."""
