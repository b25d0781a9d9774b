"""Share links ("shareables" in Extole's API): one per person and key, each with a unique code."""
