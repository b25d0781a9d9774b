"""Engine, metadata and migrations shared by every domain package."""
