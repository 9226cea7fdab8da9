"""The registry: tables, database and migrations, and the repository over them. The source
of truth for every registered tenant; every other room of the control plane sits above it."""
