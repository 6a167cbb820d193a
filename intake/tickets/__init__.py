"""Work on tickets: staff actions, the citizen's view, linked tickets, declines and the
citizen's wait."""
