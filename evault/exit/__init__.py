"""The exit path: the whole vault written out as an OCFL 1.1 storage root (`evault export-vault DIR`)."""
