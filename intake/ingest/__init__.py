"""Where a message comes in: made durable once (the gateway), its outcome told back to the
channel, dead letters, attachments and instant replies."""
