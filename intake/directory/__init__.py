"""Who works on tickets: staff accounts, their alert contacts, departments and their team
alerts."""
