"""Evidence Vault client: the `evault` command, acting through the vault's API as a signed-in person."""

__version__ = "0.1.0"
