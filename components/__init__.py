"""Typed Pulumi components for one tenant's AWS service bundle, and the tenant contract."""
