"""Open311 GeoReport v2 at `/open311/v2/`, with FixMyStreet's `servicerequestupdates`.

An inbound channel like any other: a posted request becomes an `InboundMessage` of channel
`open311` and goes through the core's gateway (dedupe, limits, numbering) to a ticket.
"""

from channels.open311.routes import router

__all__ = ["router"]
