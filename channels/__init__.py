"""Channel connectors: the thin edge that verifies, parses and acknowledges."""
