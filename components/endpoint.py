"""`TenantEndpoint`: the public HTTPS endpoint add-on in front of the tenant's application.

An Application Load Balancer in the public subnets forwards HTTPS to the autoscaling group
(HTTPS end to end: the app listens on 443) and answers plain HTTP on port 80 only with a
redirect to HTTPS, with a DNS-validated ACM certificate, an alias
record, access logs to the tenant's log bucket and, on plans that include it, AWS WAF.
The app security group admits the load balancer's group only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""Elastic Load Balancing's recommended policy: TLS 1.3 and 1.2 with forward secrecy only."""
APP_PORT = 443
WAF_MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
"""AWS managed rule groups every WAF-protected endpoint runs, in priority order."""


@dataclass
class TenantEndpointArgs:
    """Inputs of `TenantEndpoint`."""

    tenant_id: str
    """Tenant slug, for names."""
    vpc_id: pulumi.Input[str]
    """The tenant's VPC."""
    public_subnet_ids: pulumi.Input[list[str]]
    """Public subnets (two or more AZs) the load balancer sits in."""
    app_security_group_id: pulumi.Input[str]
    """Group of the application instances; gains ingress from the load balancer only."""
    autoscaling_group_name: pulumi.Input[str]
    """Group whose instances become the load balancer's targets."""
    domain: str
    """DNS name of the endpoint, e.g. `acme.tenants-platform.net`."""
    zone: str
    """Public Route 53 zone holding `domain`."""
    health_check_path: str
    """Path probed over HTTPS on each instance."""
    access_log_bucket: pulumi.Input[str]
    """The tenant's log bucket (SSE-S3, as load balancer access logs require)."""
    access_log_prefix: str
    """Prefix of the access logs in the bucket (the bucket policy allows it)."""
    waf_rate_limit: int | None = None
    """Requests per 5 minutes per IP before WAF blocks; `None` for no WAF (plan without it)."""
    redirect_http: bool = True
    """Also listen on port 80, answering only with a redirect to HTTPS."""


class TenantEndpoint(pulumi.ComponentResource):
    """Load balancer, certificate, DNS and (by plan) WAF for one tenant's application."""

    url: pulumi.Output[str]
    load_balancer_arn: pulumi.Output[str]
    load_balancer_dns_name: pulumi.Output[str]
    certificate_arn: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: TenantEndpointArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantEndpoint", name, None, opts)
        self._name = name
        self._args = args

        lb_group = self._create_security_groups()
        load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=f"tenant-{args.tenant_id}",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[lb_group.id],
            # Malformed headers are dropped, not passed to the app (request smuggling).
            drop_invalid_header_fields=True,
            desync_mitigation_mode="strictest",
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=args.access_log_bucket, prefix=args.access_log_prefix, enabled=True
            ),
            opts=ResourceOptions(parent=self),
        )
        target_group = self._create_target_group()
        zone_id = aws.route53.get_zone_output(
            name=args.zone, private_zone=False, opts=pulumi.InvokeOutputOptions(parent=self)
        ).zone_id
        certificate = self._create_certificate(zone_id)
        self._create_listeners(load_balancer, target_group, certificate)
        self._create_alias(load_balancer, zone_id)
        web_acl = (
            self._create_waf(load_balancer, args.waf_rate_limit)
            if args.waf_rate_limit is not None
            else None
        )

        self.url = pulumi.Output.from_input(f"https://{args.domain}")
        self.load_balancer_arn = load_balancer.arn
        self.load_balancer_dns_name = load_balancer.dns_name
        self.certificate_arn = certificate.certificate_arn
        self.web_acl_arn = web_acl.arn if web_acl is not None else pulumi.Output.from_input(None)
        self.register_outputs(
            {
                "url": self.url,
                "load_balancer_arn": self.load_balancer_arn,
                "load_balancer_dns_name": self.load_balancer_dns_name,
                "certificate_arn": self.certificate_arn,
                "web_acl_arn": self.web_acl_arn,
            }
        )

    def _create_security_groups(self) -> aws.ec2.SecurityGroup:
        name, args = self._name, self._args
        child = ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            f"{name}-lb-sg",
            vpc_id=args.vpc_id,
            description=f"Public load balancer of tenant {args.tenant_id}",
            tags={"Name": f"{args.tenant_id}-lb"},
            opts=child,
        )
        public_ports = [(443, "HTTPS from the internet")]
        if args.redirect_http:
            public_ports.append((80, "HTTP from the internet, redirected to HTTPS"))
        for port, description in public_ports:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-lb-ingress-{port}",
                security_group_id=group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4="0.0.0.0/0",
                description=description,
                opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-lb-egress-app",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=APP_PORT,
            to_port=APP_PORT,
            referenced_security_group_id=args.app_security_group_id,
            description="HTTPS to the application instances",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-app-ingress-lb",
            security_group_id=args.app_security_group_id,
            ip_protocol="tcp",
            from_port=APP_PORT,
            to_port=APP_PORT,
            referenced_security_group_id=group.id,
            description="HTTPS from the tenant's load balancer only",
            opts=child,
        )
        return group

    def _create_target_group(self) -> aws.lb.TargetGroup:
        name, args = self._name, self._args
        target_group = aws.lb.TargetGroup(
            f"{name}-targets",
            name=f"tenant-{args.tenant_id}",
            vpc_id=args.vpc_id,
            target_type="instance",
            port=APP_PORT,
            protocol="HTTPS",
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTPS",
                path=args.health_check_path,
                matcher="200-399",
                interval=15,
                healthy_threshold=3,
                unhealthy_threshold=3,
            ),
            opts=ResourceOptions(parent=self),
        )
        aws.autoscaling.Attachment(
            f"{name}-targets-attachment",
            autoscaling_group_name=args.autoscaling_group_name,
            lb_target_group_arn=target_group.arn,
            opts=ResourceOptions(parent=self),
        )
        return target_group

    def _create_certificate(self, zone_id: pulumi.Output[str]) -> aws.acm.CertificateValidation:
        name, args = self._name, self._args
        child = ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.domain,
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            opts=ResourceOptions(parent=self, replace_on_changes=["domainName"]),
        )
        # One name, one validation record: indexing the output keeps the record out of apply.
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=child,
        )
        return aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )

    def _create_listeners(
        self,
        load_balancer: aws.lb.LoadBalancer,
        target_group: aws.lb.TargetGroup,
        certificate: aws.acm.CertificateValidation,
    ) -> None:
        name = self._name
        child = ResourceOptions(parent=self)
        aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=certificate.certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
            ],
            opts=child,
        )
        if self._args.redirect_http:
            aws.lb.Listener(
                f"{name}-http-redirect",
                load_balancer_arn=load_balancer.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            protocol="HTTPS", port="443", status_code="HTTP_301"
                        ),
                    )
                ],
                opts=child,
            )

    def _create_alias(
        self, load_balancer: aws.lb.LoadBalancer, zone_id: pulumi.Output[str]
    ) -> None:
        aws.route53.Record(
            f"{self._name}-alias",
            zone_id=zone_id,
            name=self._args.domain,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=load_balancer.dns_name,
                    zone_id=load_balancer.zone_id,
                    evaluate_target_health=True,
                )
            ],
            opts=ResourceOptions(parent=self),
        )

    def _create_waf(self, load_balancer: aws.lb.LoadBalancer, rate_limit: int) -> aws.wafv2.WebAcl:
        name, args = self._name, self._args
        metric = f"tenant-{args.tenant_id}"

        def visibility(suffix: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgsDict:
            return {
                "cloudwatch_metrics_enabled": True,
                "metric_name": f"{metric}-{suffix}",
                "sampled_requests_enabled": True,
            }

        rate_rule: aws.wafv2.WebAclRuleArgsDict = {
            "name": "rate-limit-per-ip",
            "priority": 0,
            "action": {"block": {}},
            "statement": {
                "rate_based_statement": {
                    "limit": rate_limit,
                    "aggregate_key_type": "IP",
                    "evaluation_window_sec": 300,
                }
            },
            "visibility_config": visibility("rate-limit"),
        }
        managed: list[aws.wafv2.WebAclRuleArgsDict] = [
            {
                "name": group,
                "priority": priority,
                # The groups' own rule actions apply (no count-only override).
                "override_action": {"none": {}},
                "statement": {
                    "managed_rule_group_statement": {"vendor_name": "AWS", "name": group}
                },
                "visibility_config": visibility(group),
            }
            for priority, group in enumerate(WAF_MANAGED_RULE_GROUPS, start=1)
        ]
        rules = [rate_rule, *managed]
        web_acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            name=f"tenant-{args.tenant_id}",
            scope="REGIONAL",
            description=f"Public endpoint of tenant {args.tenant_id}",
            default_action=aws.wafv2.WebAclDefaultActionArgs(
                allow=aws.wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=rules,
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
            ),
            opts=ResourceOptions(parent=self),
        )
        aws.wafv2.WebAclAssociation(
            f"{name}-waf-association",
            resource_arn=load_balancer.arn,
            web_acl_arn=web_acl.arn,
            opts=ResourceOptions(parent=self),
        )
        return web_acl
