"""Redis: the connection (external or embedded), every key in one place, atomic batches,
heartbeats and send state."""
