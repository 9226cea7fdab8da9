"""The pack's rules, one module per AWS service (plus `tenant` for tenancy rules)."""
