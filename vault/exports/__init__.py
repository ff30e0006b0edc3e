"""Evidence bundles (证据包) for reconsideration, court, filing review and party copies: BagIt, signed, retained."""
