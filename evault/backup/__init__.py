"""Encrypted backups of the catalog and the keys, and restoring them on a fresh host against the same store."""
