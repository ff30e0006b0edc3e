"""The client's commands, one module per area; each imports its heavy parts (httpx, rich) inside the command."""
