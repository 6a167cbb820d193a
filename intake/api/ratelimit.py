"""The limits of a status lookup, shared by the API and the HTML status page.

A lookup names a ticket number and proves it with the query code or the phone; guessing
either is what these limits stop. Before the lookup: the wait this address owes for this
number after its failures (`FailureDelay`), the address's lookups, and the number's failures
from anywhere (a guess spread over many addresses). A failure then counts for the number and
lengthens this address's wait for it; a success clears that wait. The citizen asking from
another address owes nothing for a stranger's failures.
"""

from __future__ import annotations

from intake.domain.errors import NotFound, TooManyRequests
from intake.ratelimit.attempts import FAILURES_MESSAGE, LOOKUPS_MESSAGE, Rule
from intake.tickets.citizen_view import PublicStatus, TicketParts, public_status

UNKNOWN_CLIENT = "unknown"
MAX_NUMBER_KEY = 40  # a ticket number is 13 digits; longer ones cannot be found anyway


async def lookup_within_limits(
    runtime: TicketParts, *, ip: str | None, number: str, phone: str | None, code: str | None
) -> PublicStatus:
    """`public_status` behind the lookup limits; `TooManyRequests` (429) when over one."""
    limiter, who, number = runtime.limiter, ip or UNKNOWN_CLIENT, number.strip()
    key = number[:MAX_NUMBER_KEY]
    refused: TooManyRequests | None = None
    if (wait := await limiter.lookup_delay.check(who, key)) is not None:
        refused = TooManyRequests(FAILURES_MESSAGE, retry_after=wait)
    elif refusal := await limiter.hit(Rule.LOOKUPS_PER_IP, who):
        refused = TooManyRequests(LOOKUPS_MESSAGE, retry_after=refusal.retry_after)
    elif refusal := await limiter.check(Rule.LOOKUP_FAILURES_PER_NUMBER, key):
        refused = TooManyRequests(FAILURES_MESSAGE, retry_after=refusal.retry_after)
    if refused is not None:
        await limiter.pause()
        raise refused
    try:
        status = await public_status(runtime, number=number, phone=phone, code=code)
    except NotFound:
        await limiter.count(Rule.LOOKUP_FAILURES_PER_NUMBER, key)
        await limiter.lookup_delay.failed(who, key)
        raise
    await limiter.lookup_delay.succeeded(who, key)
    return status
