"""The Pulumi program: this stack's `TenantSpec` -> one `ServiceBundle`.

`pulumi up -s <tenant>` runs it with `stacks/Pulumi.<tenant>.yaml`; the control plane runs
it through the Automation API, and `tenantctl plan` under the SDK's mocks.
"""

import pulumi

from components.bundle import ServiceBundle, ServiceBundleArgs
from components.stack_config import (
    ENDPOINT_KEY,
    SESSION_KEY,
    SPEC_KEY,
    InvalidStackError,
    spec_from_config,
)

stack = pulumi.get_stack()
config = pulumi.Config()
raw_config = {SPEC_KEY: config.get(SPEC_KEY.split(":")[1])}
try:
    spec = spec_from_config(stack, raw_config)
except InvalidStackError as error:
    # RunError reports the message alone: every bad field, no traceback, nothing registered.
    raise pulumi.RunError(str(error)) from None

bundle = ServiceBundle(
    spec.tenant_id,
    ServiceBundleArgs(
        spec=spec,
        aws_endpoint=config.get(ENDPOINT_KEY.split(":")[1]),
        role_session_name=config.get(SESSION_KEY.split(":")[1]),
    ),
)
for name, value in bundle.outputs().items():
    pulumi.export(name, value)
pulumi.export("tenant", spec.tenant_id)
pulumi.export("plan", spec.plan.value)
pulumi.export("region", spec.region)
pulumi.export("cell", spec.cell.name if spec.cell is not None else None)
