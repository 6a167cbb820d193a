"""Settings of the integrations (`INTAKE_INTEGRATION__…`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IntegrationSettings(BaseModel):
    # Open311: without an api_key a GET sees only this redacted view of every ticket
    # (category, status, district, coarse location, public replies), and only when published
    open311_public_view: bool = False
    open311_contact: str = "12345"  # the discovery document's contact line
    # a partner's own service codes, by the partner's key name: {"city-app": {"POT-01":
    # "road-damage"}}; a mapped code files the ticket in our category (ours are accepted too)
    open311_service_codes: dict[str, dict[str, str]] = Field(default_factory=dict)
    # department webhooks: an address resolving to loopback or a private network is refused
    # unless the operator allows it (a receiver inside the city's own network)
    webhook_allow_private: bool = False
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_retry_for_s: int = Field(default=86400, ge=1)  # then the event is dead-lettered
    webhook_backoff_first_s: float = Field(default=5.0, gt=0)
    webhook_backoff_max_s: float = Field(default=1800.0, gt=0)
