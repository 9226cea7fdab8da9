"""`TenantConnectivity`: the private connectivity add-on, site-to-site VPN to the customer.

A virtual private gateway on the tenant's VPC; per office a customer gateway and a VPN
connection (two IPsec tunnels, IKEv2 with AES-256, SHA2-256 and DH groups 19-21 only, the
pre-shared keys kept in Secrets Manager rather than in state), static routes or BGP, and an
alarm per tunnel. Routes from the VPN reach the private route tables only: office traffic
never meets the public subnets.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.spec import OfficeSite

IKE_VERSIONS = ["ikev2"]
ENCRYPTION = ["AES256", "AES256-GCM-16"]
INTEGRITY = ["SHA2-256", "SHA2-384", "SHA2-512"]
DH_GROUPS = [19, 20, 21]
"""Elliptic-curve Diffie-Hellman groups only (no MODP 1024/1536/2048)."""


@dataclass
class TenantConnectivityArgs:
    """Inputs of `TenantConnectivity`."""

    tenant_id: str
    """Tenant slug, for names."""
    vpc_id: pulumi.Input[str]
    """The tenant's VPC."""
    private_route_table_ids: pulumi.Input[list[str]]
    """Route tables of the private subnets; the VPN's routes propagate to these only."""
    route_table_count: int
    """How many private route tables there are (one per AZ)."""
    sites: tuple[OfficeSite, ...]
    """The customer's offices."""
    alarm_topic_arn: pulumi.Input[str]
    """Topic the tunnel alarms notify."""


class TenantConnectivity(pulumi.ComponentResource):
    """VPN gateway, customer gateways, connections and tunnel alarms of one tenant."""

    vpn_gateway_id: pulumi.Output[str]
    vpn_connection_ids: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: TenantConnectivityArgs, opts: ResourceOptions | None = None
    ) -> None:
        super().__init__("tenants:index:TenantConnectivity", name, None, opts)
        self._name = name
        self._args = args
        child = ResourceOptions(parent=self)

        gateway = aws.ec2.VpnGateway(
            f"{name}-vgw",
            vpc_id=args.vpc_id,
            tags={"Name": f"{args.tenant_id}-vgw"},
            opts=child,
        )
        route_tables = pulumi.Output.from_input(args.private_route_table_ids)
        for i in range(args.route_table_count):
            aws.ec2.VpnGatewayRoutePropagation(
                f"{name}-propagation-{i}",
                vpn_gateway_id=gateway.id,
                route_table_id=route_tables[i],
                opts=child,
            )
        connections = {site.name: self._create_site(site, gateway) for site in args.sites}

        self.vpn_gateway_id = gateway.id
        self.vpn_connection_ids = pulumi.Output.all(
            **{site: c.id for site, c in connections.items()}
        ).apply(dict)
        self.register_outputs(
            {"vpn_gateway_id": self.vpn_gateway_id, "vpn_connection_ids": self.vpn_connection_ids}
        )

    def _create_site(self, site: OfficeSite, gateway: aws.ec2.VpnGateway) -> aws.ec2.VpnConnection:
        name, args = f"{self._name}-{site.name}", self._args
        child = ResourceOptions(parent=self)
        customer_gateway = aws.ec2.CustomerGateway(
            f"{name}-cgw",
            type="ipsec.1",
            ip_address=str(site.public_ip),
            bgp_asn=str(site.bgp_asn),
            tags={"Name": f"{args.tenant_id}-{site.name}"},
            opts=child,
        )
        connection = aws.ec2.VpnConnection(
            f"{name}-vpn",
            type="ipsec.1",
            vpn_gateway_id=gateway.id,
            customer_gateway_id=customer_gateway.id,
            static_routes_only=bool(site.static_routes),
            preshared_key_storage="SecretsManager",
            tunnel_inside_ip_version="ipv4",
            tags={"Name": f"{args.tenant_id}-{site.name}"},
            # Both tunnels: IKEv2 and strong ciphers in both phases.
            tunnel1_ike_versions=IKE_VERSIONS,
            tunnel1_phase1_encryption_algorithms=ENCRYPTION,
            tunnel1_phase1_integrity_algorithms=INTEGRITY,
            tunnel1_phase1_dh_group_numbers=DH_GROUPS,
            tunnel1_phase2_encryption_algorithms=ENCRYPTION,
            tunnel1_phase2_integrity_algorithms=INTEGRITY,
            tunnel1_phase2_dh_group_numbers=DH_GROUPS,
            tunnel2_ike_versions=IKE_VERSIONS,
            tunnel2_phase1_encryption_algorithms=ENCRYPTION,
            tunnel2_phase1_integrity_algorithms=INTEGRITY,
            tunnel2_phase1_dh_group_numbers=DH_GROUPS,
            tunnel2_phase2_encryption_algorithms=ENCRYPTION,
            tunnel2_phase2_integrity_algorithms=INTEGRITY,
            tunnel2_phase2_dh_group_numbers=DH_GROUPS,
            opts=child,
        )
        for i, route in enumerate(site.static_routes):
            aws.ec2.VpnConnectionRoute(
                f"{name}-route-{i}",
                vpn_connection_id=connection.id,
                destination_cidr_block=str(route),
                opts=child,
            )
        for n, address in ((1, connection.tunnel1_address), (2, connection.tunnel2_address)):
            actions = [args.alarm_topic_arn]
            aws.cloudwatch.MetricAlarm(
                f"{name}-tunnel-{n}-down",
                name=f"tenant-{args.tenant_id}-vpn-{site.name}-tunnel-{n}-down",
                alarm_description=f"VPN tunnel {n} to site {site.name} is down for 5 minutes",
                namespace="AWS/VPN",
                metric_name="TunnelState",
                dimensions={"VpnId": connection.id, "TunnelIpAddress": address},
                statistic="Maximum",
                period=60,
                evaluation_periods=5,
                threshold=1,
                comparison_operator="LessThanThreshold",
                treat_missing_data="breaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )
        return connection
