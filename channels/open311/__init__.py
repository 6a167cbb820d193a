"""Open311 GeoReport v2 at `/open311/v2/`, with FixMyStreet's `servicerequestupdates`.

An inbound channel like any other: a posted request becomes an `InboundMessage` of channel
`open311` and goes through the core's gateway (dedupe, limits, numbering) to a ticket.

The routes are in `channels.open311.routes` (the root mounts its `router`); this package
imports nothing, so that the start-up check of partners' codes can read them without loading
the HTTP side.
"""
