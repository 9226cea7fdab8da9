"""Add-ons on invoices and meters: prorated monthly fees, usage above the included amounts,
segments split where add-ons change, LCU-hours from moto and call minutes through Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from components.plans import AddonName, PlanName
from control_plane.billing.history import SpecChange, TenantHistory, segments_in_period
from control_plane.billing.invoicing import (
    BillingPeriod,
    LifecycleSegment,
    SegmentState,
    SegmentUsage,
    rate_invoice,
)
from control_plane.billing.metering import (
    MeteringWindow,
    MeterReading,
    TenantResources,
    UsageMeter,
    discover_resources,
)

NOV = BillingPeriod.month(2026, 11)
REGION = "us-east-1"


def segment(start: int, end: int, addons: dict[AddonName, int], **kw: Any) -> LifecycleSegment:
    return LifecycleSegment(
        plan=kw.get("plan", PlanName.PRO),
        state=kw.get("state", SegmentState.ACTIVE),
        start=date(2026, 11, start),
        end=date(2026, 11, end) if end <= 30 else date(2026, 12, 1),
        addons=addons,
    )


def invoice_of(*items: tuple[LifecycleSegment, MeterReading]) -> Any:
    return rate_invoice(
        number=None,
        tenant_id="globex",
        period=NOV,
        segments=[SegmentUsage(segment=s, usage=u) for s, u in items],
        issued_on=date(2026, 12, 1),
    )


def test_a_full_month_with_an_endpoint_and_two_lines_costs_their_fees() -> None:
    invoice = invoice_of(
        (segment(1, 31, {AddonName.ENDPOINT: 1, AddonName.TELEPHONY: 2}), MeterReading())
    )
    lines = {line.description: line.amount for line in invoice.lines}
    assert lines == {
        "Pro plan 01 Nov - 30 Nov (30 of 30 days)": Decimal("299.00"),
        "Public endpoint 01 Nov - 30 Nov: 1 endpoint (30 of 30 days)": Decimal("18.00"),
        "Telephony 01 Nov - 30 Nov: 2 lines (30 of 30 days)": Decimal("10.00"),
    }
    assert invoice.total == Decimal("327.00")


def test_a_line_added_mid_month_is_prorated_and_usage_above_included_is_billed() -> None:
    # 1 line for 10 days, then 3 lines for 20 days.
    invoice = invoice_of(
        (segment(1, 11, {AddonName.TELEPHONY: 1}), MeterReading(call_minutes=Decimal("50"))),
        (
            segment(11, 31, {AddonName.TELEPHONY: 3, AddonName.ENDPOINT: 1}),
            MeterReading(call_minutes=Decimal("400"), lcu_hours=Decimal("1000")),
        ),
    )
    addon_lines = [(line.description, line.amount) for line in invoice.lines[1:]]
    assert addon_lines == [
        # 5.00 x 1 x 10/30
        ("Telephony 01 Nov - 10 Nov: 1 line (10 of 30 days)", Decimal("1.67")),
        # 100 x 1 x 10/30 = 33.33 included, 16.67 min over at 0.018
        ("Telephony usage 01 Nov - 10 Nov: 50.00 min used, 33.33 included", Decimal("0.30")),
        ("Pro plan 11 Nov - 30 Nov (20 of 30 days)", Decimal("199.33")),
        # 18.00 x 20/30
        ("Public endpoint 11 Nov - 30 Nov: 1 endpoint (20 of 30 days)", Decimal("12.00")),
        # 720 x 20/30 = 480 included, 520 LCU-h over at 0.01
        (
            "Public endpoint usage 11 Nov - 30 Nov: 1000.00 LCU-h used, 480.00 included",
            Decimal("5.20"),
        ),
        # 5.00 x 3 x 20/30
        ("Telephony 11 Nov - 30 Nov: 3 lines (20 of 30 days)", Decimal("10.00")),
        # 100 x 3 x 20/30 = 200 included, 200 over at 0.018
        ("Telephony usage 11 Nov - 30 Nov: 400.00 min used, 200.00 included", Decimal("3.60")),
    ]
    # 99.67 for the plan's first 10 days, then the lines above.
    assert invoice.total == Decimal("331.77")


def test_suspended_days_pay_no_add_on_fee_but_usage_is_billed() -> None:
    invoice = invoice_of(
        (
            segment(1, 31, {AddonName.TELEPHONY: 2}, state=SegmentState.SUSPENDED),
            MeterReading(call_minutes=Decimal("10")),
        )
    )
    assert [(line.description, line.amount) for line in invoice.lines][1:] == [
        ("Telephony usage 01 Nov - 30 Nov: 10.00 min used, 0.00 included", Decimal("0.18"))
    ]


def test_segments_split_where_add_ons_change() -> None:
    at = datetime(2026, 11, 11, 9, tzinfo=UTC)
    history = TenantHistory(
        changes=(
            SpecChange(at=datetime(2026, 10, 1, tzinfo=UTC), plan=PlanName.PRO, suspended=False),
            SpecChange(at=at, plan=PlanName.PRO, suspended=False, addons={AddonName.TELEPHONY: 2}),
            SpecChange(
                at=at + timedelta(days=5),
                plan=PlanName.PRO,
                suspended=False,
                addons={AddonName.TELEPHONY: 2},
            ),
        )
    )
    segments = segments_in_period(history, NOV)
    assert [(s.start.day, s.end.day, s.addons) for s in segments] == [
        (1, 11, {}),
        (11, 1, {AddonName.TELEPHONY: 2}),
    ]


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "autoscaling": boto3.client("autoscaling", region_name=REGION),
            "s3": boto3.client("s3", region_name=REGION),
            "cloudwatch": boto3.client("cloudwatch", region_name=REGION),
            "elbv2": boto3.client("elbv2", region_name=REGION),
            "ec2": boto3.client("ec2", region_name=REGION),
            "connect": boto3.client("connect", region_name=REGION),
        }


def _load_balancer(aws: dict[str, Any], name: str, tenant: str) -> str:
    vpc = aws["ec2"].create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        aws["ec2"].create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)
        for i, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    created = aws["elbv2"].create_load_balancer(
        Name=name,
        Subnets=[s["Subnet"]["SubnetId"] for s in subnets],
        Tags=[{"Key": "tenant", "Value": tenant}],
    )
    arn: str = created["LoadBalancers"][0]["LoadBalancerArn"]
    return arn.split(":loadbalancer/", 1)[1]


def test_endpoint_lcu_hours_and_tenant_discovery_against_moto(aws: dict[str, Any]) -> None:
    ours = _load_balancer(aws, "tenant-globex", "globex")
    theirs = _load_balancer(aws, "tenant-initech", "initech")
    start = datetime(2026, 11, 2, tzinfo=UTC)
    for hour, (mine, other) in enumerate([(1.5, 9.0), (2.5, 9.0), (4.0, 9.0)]):
        for dimension, value in ((ours, mine), (theirs, other)):
            aws["cloudwatch"].put_metric_data(
                Namespace="AWS/ApplicationELB",
                MetricData=[
                    {
                        "MetricName": "ConsumedLCUs",
                        "Dimensions": [{"Name": "LoadBalancer", "Value": dimension}],
                        "Timestamp": start + timedelta(hours=hour, minutes=10),
                        "Value": value,
                    }
                ],
            )
    connect_instance = aws["connect"].create_instance(
        IdentityManagementType="CONNECT_MANAGED",
        InstanceAlias="globex-1a2b3c4d",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=True,
    )
    aws["connect"].tag_resource(resourceArn=connect_instance["Arn"], tags={"tenant": "globex"})
    resources = discover_resources(
        "globex",
        autoscaling=aws["autoscaling"],
        s3=aws["s3"],
        cloudwatch=aws["cloudwatch"],
        elbv2=aws["elbv2"],
        connect=aws["connect"],
    )
    assert resources.load_balancers == (ours,)
    assert resources.connect_instances == (connect_instance["Id"],)
    window = MeteringWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert UsageMeter(aws["cloudwatch"]).lcu_hours(resources.load_balancers, window) == Decimal(
        "8.0"
    )


def test_call_minutes_round_each_call_up_and_follow_pagination() -> None:
    connect = boto3.client("connect", region_name=REGION)
    window = MeteringWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    t0 = datetime(2026, 11, 5, 10, tzinfo=UTC)

    def contact(seconds: int | None, n: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "Id": f"c{n}",
            "Arn": f"arn:aws:connect:{REGION}:123456789012:instance/i-1/contact/c{n}",
            "Channel": "VOICE",
            "InitiationTimestamp": t0,
        }
        if seconds is not None:
            item["DisconnectTimestamp"] = t0 + timedelta(seconds=seconds)
        return item

    request = {
        "InstanceId": "i-1",
        "TimeRange": {
            "Type": "INITIATION_TIMESTAMP",
            "StartTime": window.start,
            "EndTime": window.end,
        },
        "SearchCriteria": {"Channels": ["VOICE"]},
    }
    with Stubber(connect) as stub:
        stub.add_response(
            "search_contacts",
            {"Contacts": [contact(61, 1), contact(60, 2)], "TotalCount": 4, "NextToken": "p2"},
            request,
        )
        stub.add_response(
            "search_contacts",
            {"Contacts": [contact(1, 3), contact(None, 4)], "TotalCount": 4},
            {**request, "NextToken": "p2"},
        )
        minutes = UsageMeter(boto3.client("cloudwatch", region_name=REGION), connect).call_minutes(
            ["i-1"], window
        )
        stub.assert_no_pending_responses()
    # 61 s -> 2, 60 s -> 1, 1 s -> 1, the running call -> not yet.
    assert minutes == Decimal(4)


def test_tenants_without_add_ons_meter_nothing_for_them() -> None:
    meter = UsageMeter(boto3.client("cloudwatch", region_name=REGION))
    window = MeteringWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    assert meter.call_minutes((), window) == 0
    assert meter.lcu_hours(TenantResources(tenant_id="x").load_balancers, window) == 0


def test_vpn_connection_hours_count_hours_with_tunnel_state(aws: dict[str, Any]) -> None:
    gateway = aws["ec2"].create_customer_gateway(Type="ipsec.1", PublicIp="8.8.4.4", BgpAsn=65000)
    vpn = aws["ec2"].create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=gateway["CustomerGateway"]["CustomerGatewayId"],
        TagSpecifications=[
            {"ResourceType": "vpn-connection", "Tags": [{"Key": "tenant", "Value": "globex"}]}
        ],
    )["VpnConnection"]["VpnConnectionId"]
    start = datetime(2026, 11, 2, tzinfo=UTC)
    # Samples every 20 minutes for three hours, tunnels down in the second (still billed).
    for minute in range(0, 180, 20):
        aws["cloudwatch"].put_metric_data(
            Namespace="AWS/VPN",
            MetricData=[
                {
                    "MetricName": "TunnelState",
                    "Dimensions": [{"Name": "VpnId", "Value": vpn}],
                    "Timestamp": start + timedelta(minutes=minute),
                    "Value": 0.0 if 60 <= minute < 120 else 1.0,
                }
            ],
        )
    resources = discover_resources(
        "globex",
        autoscaling=aws["autoscaling"],
        s3=aws["s3"],
        cloudwatch=aws["cloudwatch"],
        ec2=aws["ec2"],
    )
    assert resources.vpn_connections == (vpn,)
    window = MeteringWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    meter = UsageMeter(aws["cloudwatch"])
    assert meter.vpn_connection_hours(resources.vpn_connections, window) == Decimal(3)
    assert meter.measure(resources, window).vpn_connection_hours == Decimal(3)


def test_vpn_sites_are_invoiced_per_site_with_hours_above_the_included() -> None:
    invoice = invoice_of(
        (
            segment(1, 31, {AddonName.CONNECTIVITY: 1}, plan=PlanName.ENTERPRISE),
            MeterReading(vpn_connection_hours=Decimal("800")),
        )
    )
    assert [(line.description, line.amount) for line in invoice.lines][1:] == [
        ("Private connectivity 01 Nov - 30 Nov: 1 site (30 of 30 days)", Decimal("45.00")),
        (
            "Private connectivity usage 01 Nov - 30 Nov: 800.00 connection-h used, 744.00 included",
            Decimal("3.36"),
        ),
    ]


def test_emails_sent_are_summed_from_the_tenant_configuration_set(aws: dict[str, Any]) -> None:
    sesv2 = boto3.client("sesv2", region_name=REGION)
    for name in ("tenant-globex", "tenant-globex2", "tenant-initech"):
        sesv2.create_configuration_set(ConfigurationSetName=name)
    day = datetime(2026, 11, 2, 12, tzinfo=UTC)
    for name, sends in (("tenant-globex", (1200, 800)), ("tenant-initech", (99999,))):
        for i, count in enumerate(sends):
            aws["cloudwatch"].put_metric_data(
                Namespace="AWS/SES",
                MetricData=[
                    {
                        "MetricName": "Send",
                        "Dimensions": [{"Name": "ses:configuration-set", "Value": name}],
                        "Timestamp": day + timedelta(days=i),
                        "Value": float(count),
                    }
                ],
            )
    resources = discover_resources(
        "globex",
        autoscaling=aws["autoscaling"],
        s3=aws["s3"],
        cloudwatch=aws["cloudwatch"],
        sesv2=sesv2,
    )
    assert resources.mail_configuration_sets == ("tenant-globex",)
    window = MeteringWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert UsageMeter(aws["cloudwatch"]).emails_sent(
        resources.mail_configuration_sets, window
    ) == Decimal(2000)


def test_mail_is_invoiced_per_domain_and_per_thousand_e_mails_above_the_included() -> None:
    invoice = invoice_of(
        (segment(1, 31, {AddonName.MAIL: 1}), MeterReading(emails_sent=Decimal("25500")))
    )
    assert [(line.description, line.quantity, line.amount) for line in invoice.lines][1:] == [
        ("E-mail 01 Nov - 30 Nov: 1 domain (30 of 30 days)", Decimal(30), Decimal("9.00")),
        (
            "E-mail usage 01 Nov - 30 Nov: 25.50 thousand e-mails used, 10.00 included",
            Decimal("15.50"),
            Decimal("2.33"),
        ),
    ]
