"""The staff console: agents, department handlers, supervisors and admins work the closed loop
in a browser at `/console`, on the same service functions and rules as the staff API.

`intake.console.web.router(...)` builds the routes; `intake.console.cli.register(staff_app)`
adds the account commands to `intake staff`.
"""
