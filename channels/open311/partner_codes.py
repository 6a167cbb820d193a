"""A partner's own service codes: an operator maps them to our categories in the settings
(`integration.open311_service_codes`, by the partner's key name), so a city app that keeps its
own list files tickets in the right category without learning ours. Our codes stay accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from intake.config import Settings
from intake.domain.errors import ConfigurationError
from intake.integration_settings import IntegrationSettings

if TYPE_CHECKING:
    from channels.open311.services import Service


def partner_codes(settings: IntegrationSettings, partner: str) -> dict[str, str]:
    """The partner's code → our service code (empty when the operator mapped none)."""
    return settings.open311_service_codes.get(partner, {})


def unknown_targets(
    codes: Mapping[str, Mapping[str, str]], services: Mapping[str, Service]
) -> list[str]:
    """`partner: CODE -> target` for each mapping whose target is no service of ours."""
    return [
        f"{partner}: {given} -> {ours}"
        for partner, mapping in codes.items()
        for given, ours in mapping.items()
        if ours not in services
    ]


def check_partner_codes(settings: Settings) -> None:
    """At start-up: every mapped code must name one of our services."""
    codes = settings.integration.open311_service_codes
    if not codes:
        return
    # the catalogue loads triage: only at a start whose settings map partners' codes
    from channels.open311.services import load_services, services_file

    services = load_services(services_file(settings.triage.categories_file))
    unknown = unknown_targets(codes, services)
    if unknown:
        raise ConfigurationError(
            "INTAKE_INTEGRATION__OPEN311_SERVICE_CODES: maps to unknown service codes: "
            + "; ".join(unknown)
        )
