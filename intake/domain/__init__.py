"""The ticket domain: the normalized message, tables, vocabularies, the closed loop's state
machine, events, errors, phones and the clock."""
