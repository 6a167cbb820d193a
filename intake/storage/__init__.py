"""The database: engines and sessions, migrations, the outbox relay and the pipeline's bulk
writes."""
