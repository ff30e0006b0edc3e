"""The web app: server-rendered pages for every role, on the same services as the API (mounted by site.py)."""
