"""Rate limiting, in one place: how fast the service sends, and how often one party may ask.

- `buckets`: token buckets that pace sends (an SMS gateway's contracted rate, the notifier's
  per-channel and per-recipient limits): `take(n)` grants tokens or says how long to wait.
- `attempts`: limits on attempts (submissions, lookups, API keys, sign-ins) that refuse with
  a retry-after, on moving windows of the `limits` library; `failure_delay`: the doubling
  wait after repeated failed lookups. Why these are not buckets: see `attempts`.
"""
