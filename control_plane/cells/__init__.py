"""Cells: AWS accounts tenants are spread over by measured service quotas, silo accounts for
tenants that need one of their own, and each tenant's placement, fixed for its life."""
