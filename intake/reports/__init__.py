"""Reports on the tickets: the 12345 KPIs and the hot topics, computed from the database."""
