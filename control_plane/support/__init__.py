"""Support cases: tenants ask for help, support engineers answer in the case."""
