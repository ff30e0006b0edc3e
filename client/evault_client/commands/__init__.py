"""The client's commands, one module per area; each imports its heavy parts (httpx, rich) inside the command."""

from urllib.parse import quote


def segment(value: str) -> str:
    """Percent-encode one path segment, so `/`, `?`, `#` and Chinese text reach the vault as typed."""
    return quote(value.strip(), safe="")
