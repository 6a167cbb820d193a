"""Personal data: what of a ticket is personal, erasure on request, retention and the audit
log."""
