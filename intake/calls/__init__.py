"""Phone calls typed in by hotline agents (来电录入): the caller's number is the citizen's
identity (the call itself verifies it), and the call enters the core like any channel's message,
so dedupe, triage, deadlines and notifications are the same as everywhere else."""
