"""The CrossGuard policy pack: compliance and tenant rules, and the offline gate that runs them.

Policies live in importable modules and are listed in `policies.pack.ALL_POLICIES`; only
`policies/__main__.py` hands them to `PolicyPack`, whose constructor starts a server.
"""
