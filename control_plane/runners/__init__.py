"""Runners turn a `TenantSpec` into a stack operation: deployed (Automation API) or planned."""
