"""The control plane: stack files, offline plans, registry, queue, runners, billing, CLI."""
