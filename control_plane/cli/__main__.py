"""`python -m control_plane.cli`: the same `tenantctl`."""

from control_plane.cli import main

main()
