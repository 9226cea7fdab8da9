"""`TenantNetwork`: the tenant's VPC, subnets, routes, NAT, security groups and flow logs."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.plans import NatStrategy
from components.spec import IngressRule

_AZ_LETTERS = "abc"


@dataclass
class TenantNetworkArgs:
    """Inputs of `TenantNetwork`."""

    tenant_id: str
    """Tenant slug, for names."""
    region: str
    """AWS region; availability zones are `<region>a`, `b`, `c`."""
    account_id: pulumi.Input[str]
    """AWS account hosting the bundle (the flow-log role's trust conditions)."""
    cidr: ipaddress.IPv4Network
    """VPC CIDR; each AZ gets a private (and, with NAT, a public) subnet carved from it."""
    az_count: int
    """Availability zones to span."""
    nat: NatStrategy
    """NAT strategy for the private subnets."""
    flow_log_retention_days: int
    """Retention of the VPC flow-log group (a value CloudWatch Logs accepts)."""
    kms_key_arn: pulumi.Input[str]
    """Tenant key that encrypts the flow-log group."""
    permissions_boundary_arn: pulumi.Input[str]
    """Boundary attached to the flow-log delivery role."""
    ingress: tuple[IngressRule, ...] = field(default_factory=tuple)
    """Extra ingress to the app security group."""
    public_endpoint: bool = False
    """A load balancer fronts the app: public subnets exist, and HTTPS to the app comes from
    the load balancer's group (added by `TenantEndpoint`) instead of the whole VPC."""


class TenantNetwork(pulumi.ComponentResource):
    """A VPC across `az_count` AZs with private subnets, NAT by plan and locked-down groups."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    private_route_table_ids: pulumi.Output[list[str]]
    app_security_group_id: pulumi.Output[str]
    flow_log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantNetworkArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantNetwork", name, None, opts)
        self._name = name
        self._args = args
        child = ResourceOptions(parent=self)

        self._vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{args.tenant_id}-vpc"},
            opts=child,
        )
        # Managing the default group with no rules strips AWS's allow-all defaults.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self._vpc.id,
            tags={"Name": f"{args.tenant_id}-default-locked"},
            opts=child,
        )

        zones = [f"{args.region}{letter}" for letter in _AZ_LETTERS[: args.az_count]]
        # Eight equal blocks: private subnets take 0..2, public ones 4..6.
        blocks = list(args.cidr.subnets(prefixlen_diff=3))
        private = [self._subnet(f"private-{z[-1]}", str(blocks[i]), z) for i, z in enumerate(zones)]
        public: list[aws.ec2.Subnet] = []
        if args.nat is not NatStrategy.NONE or args.public_endpoint:
            public = [
                self._subnet(f"public-{z[-1]}", str(blocks[4 + i]), z) for i, z in enumerate(zones)
            ]
        route_tables = self._create_routes(zones, private, public)
        self._create_s3_endpoint(route_tables)
        self._app_sg = self._create_app_security_group()
        log_group = self._create_flow_logs()

        self.vpc_id = self._vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_route_table_ids = pulumi.Output.all(*[rt.id for rt in route_tables])
        self.app_security_group_id = self._app_sg.id
        self.flow_log_group_name = log_group.name
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "private_route_table_ids": self.private_route_table_ids,
                "app_security_group_id": self.app_security_group_id,
                "flow_log_group_name": self.flow_log_group_name,
            }
        )

    def _subnet(self, role: str, cidr: str, zone: str) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            f"{self._name}-{role}",
            vpc_id=self._vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            # Instances never get public addresses, not even in public subnets (NAT only).
            map_public_ip_on_launch=False,
            tags={"Name": f"{self._args.tenant_id}-{role}", "tier": role.split("-", maxsplit=1)[0]},
            opts=ResourceOptions(parent=self),
        )

    def _create_routes(
        self, zones: list[str], private: list[aws.ec2.Subnet], public: list[aws.ec2.Subnet]
    ) -> list[aws.ec2.RouteTable]:
        name, args = self._name, self._args
        child = ResourceOptions(parent=self)
        nat_gateways: list[aws.ec2.NatGateway] = []
        if public:
            igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self._vpc.id, opts=child)
            public_rt = aws.ec2.RouteTable(
                f"{name}-public-rt",
                vpc_id=self._vpc.id,
                tags={"Name": f"{name}-public"},
                opts=child,
            )
            aws.ec2.Route(
                f"{name}-public-default",
                route_table_id=public_rt.id,
                destination_cidr_block="0.0.0.0/0",
                gateway_id=igw.id,
                opts=child,
            )
            for subnet, zone in zip(public, zones, strict=True):
                aws.ec2.RouteTableAssociation(
                    f"{name}-public-{zone[-1]}-rta",
                    subnet_id=subnet.id,
                    route_table_id=public_rt.id,
                    opts=child,
                )
            nat_zones = {
                NatStrategy.NONE: [],
                NatStrategy.SINGLE: zones[:1],
                NatStrategy.PER_AZ: zones,
            }[args.nat]
            for i, zone in enumerate(nat_zones):
                eip = aws.ec2.Eip(f"{name}-nat-{zone[-1]}-eip", domain="vpc", opts=child)
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{zone[-1]}",
                        allocation_id=eip.id,
                        subnet_id=public[i].id,
                        tags={"Name": f"{args.tenant_id}-nat-{zone[-1]}"},
                        opts=ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )

        route_tables = []
        for i, (subnet, zone) in enumerate(zip(private, zones, strict=True)):
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone[-1]}-rt",
                vpc_id=self._vpc.id,
                tags={"Name": f"{args.tenant_id}-private-{zone[-1]}"},
                opts=child,
            )
            if nat_gateways:
                nat = nat_gateways[i if len(nat_gateways) > 1 else 0]
                aws.ec2.Route(
                    f"{name}-private-{zone[-1]}-default",
                    route_table_id=rt.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                    opts=child,
                )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone[-1]}-rta",
                subnet_id=subnet.id,
                route_table_id=rt.id,
                opts=child,
            )
            route_tables.append(rt)
        return route_tables

    def _create_s3_endpoint(self, route_tables: list[aws.ec2.RouteTable]) -> None:
        aws.ec2.VpcEndpoint(
            f"{self._name}-s3-endpoint",
            vpc_id=self._vpc.id,
            service_name=f"com.amazonaws.{self._args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in route_tables],
            opts=ResourceOptions(parent=self),
        )

    def _create_app_security_group(self) -> aws.ec2.SecurityGroup:
        name, args = self._name, self._args
        child = ResourceOptions(parent=self)
        sg = aws.ec2.SecurityGroup(
            f"{name}-app-sg",
            vpc_id=self._vpc.id,
            description=f"Application instances of tenant {args.tenant_id}",
            tags={"Name": f"{args.tenant_id}-app"},
            opts=child,
        )
        vpc_https = IngressRule(
            port=443, cidr=args.cidr, description="HTTPS from inside the tenant VPC"
        )
        rules = args.ingress if args.public_endpoint else (vpc_https, *args.ingress)
        for i, rule in enumerate(rules):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-app-ingress-{i}",
                security_group_id=sg.id,
                ip_protocol=rule.protocol,
                from_port=rule.port,
                to_port=rule.last_port,
                cidr_ipv4=str(rule.cidr),
                description=rule.description,
                opts=child,
            )
        # Egress is HTTPS only: package mirrors, AWS APIs (via NAT) and S3 (via the endpoint).
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-app-egress-https",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="HTTPS to AWS APIs, S3 and package mirrors",
            opts=child,
        )
        return sg

    def _create_flow_logs(self) -> aws.cloudwatch.LogGroup:
        name, args = self._name, self._args
        child = ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/tenants/{args.tenant_id}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        # The flow log's id is assigned after this role must exist, so its trust can name
        # the region's flow logs of the account, not this one; the role may write only
        # into this tenant's log group.
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": account},
                                    "ArnLike": {
                                        "aws:SourceArn": (
                                            f"arn:aws:ec2:{args.region}:{account}:vpc-flow-log/*"
                                        )
                                    },
                                },
                            }
                        ],
                    }
                )
            ),
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self._vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child,
        )
        return log_group
