"""The offline planner: runs the real Pulumi program under the SDK's mocks and returns a
`TenantPlan`. Used by the policy gate, the offline runner and the tests; it depends on
`components/` only."""
