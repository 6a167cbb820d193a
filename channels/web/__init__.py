"""The citizen web form and the public request API (`POST /api/v1/requests`)."""
