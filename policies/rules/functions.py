"""Lambda: no credentials in environment variables, no function open to everyone."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.credentials import credential_value
from policies.define import Report, resource_policy, within
from policies.frameworks import hipaa, iso, pci, soc2
from policies.props import mapping, text

FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"


def _check_environment(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    variables = mapping(mapping(args.props.get("environment")).get("variables"))
    for name in variables:
        with within():
            value = variables[name]
            what = credential_value(str(name), text(value)) if value is not None else None
            if what:
                # The finding names the variable, never the value: reports end up in CI logs.
                report(
                    f"has {what} in environment variable {name!s}; read it from Secrets "
                    "Manager at run time"
                )


lambda_function_disallow_secrets_in_environment = resource_policy(
    name="aws-lambda-function-disallow-secrets-in-environment",
    description="Lambda environment variables hold no credentials.",
    severity=Severity.CRITICAL,
    controls=(pci("8.3.2"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.8.12")),
    remediation="Keep the secret in Secrets Manager; pass its ARN and read it at run time.",
    resource_types=(FUNCTION,),
    check=_check_environment,
    topics=("serverless", "secrets"),
)


def _check_public(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if args.resource_type == FUNCTION_URL:
        if text(args.props.get("authorizationType")).upper() != "AWS_IAM":
            report("serves a function URL without authentication (authorizationType NONE)")
        return
    principal = text(args.props.get("principal")).strip()
    scoped = any(
        text(args.props.get(key)) for key in ("sourceArn", "sourceAccount", "principalOrgId")
    )
    if principal == "*" and not scoped:
        url_auth = text(args.props.get("functionUrlAuthType")).upper()
        how = " through its URL" if url_auth == "NONE" else ""
        report(f"lets everyone ('*') invoke the function{how}")
    elif principal.endswith(".amazonaws.com") and not scoped:
        report(
            f"lets {principal} invoke the function on behalf of any account; set sourceArn "
            "or sourceAccount"
        )


lambda_function_disallow_public_access = resource_policy(
    name="aws-lambda-function-disallow-public-access",
    description="Lambda functions cannot be invoked by everyone, through a URL or a permission.",
    severity=Severity.HIGH,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Use authorization_type 'AWS_IAM' on function URLs, and give permissions to "
    "named principals or to services with source_arn / source_account.",
    resource_types=(FUNCTION_URL, PERMISSION),
    check=_check_public,
    topics=("serverless", "public-access"),
)
