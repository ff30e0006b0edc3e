"""The officer's side of ingest: `evault upload` and `evault dock` speak tus 1.0 to a vault and keep signed receipts."""
