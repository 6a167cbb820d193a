"""The composition root: builds the app, the workers and the command line from the three parts.

The only package that imports the core (`intake`), the channels (`channels`) and the notifier
(`notifier`) together; it plugs the edges' implementations into the core's interfaces
(`intake.interfaces`). Nothing imports it.
"""
