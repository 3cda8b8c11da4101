"""Operator commands of the monitoring hosts: status, SLA report, test alerts, Teams relay."""
