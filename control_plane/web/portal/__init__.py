"""The self-service portal: server-rendered pages beside `/api/v1`, on the same services."""
