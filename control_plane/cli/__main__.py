"""`python -m control_plane.cli`: the same as the `tenantctl` script."""

from control_plane.cli import main

main()
