"""Avro schemas of the housing app's events (source-systems.md §2).

Every event is an envelope (``Id``, ``EventType``, ``SourceDomain``,
``SourceSystem``, ``Version``, ``CorrelationId``, ``DateTime``, ``User``) around
the entity as it stands after the change (``Tenure`` or ``ContactDetails``),
the shape the real service's reporting listener publishes. Dates are Unix
seconds (``long``), as the real stream sends them.

``TENURE_V2`` adds one optional field to the tenure (``InformHousingBenefitsForChanges``,
``["null", "boolean"]`` with a ``null`` default): the BACKWARD-compatible schema
change the simulator makes mid-stream.
"""

from __future__ import annotations

import copy
import json
from typing import Any

NAMESPACE = "uk.gov.riverside.housing"
TENURE_TOPIC = "tenure_api"
CONTACT_TOPIC = "contact_details_api"
ADDED_FIELD = "InformHousingBenefitsForChanges"


def _optional(kind: Any) -> list[Any]:
    return ["null", kind]


def _envelope(payload_name: str, payload: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": NAMESPACE,
        "fields": [
            {"name": "Id", "type": "string"},
            {"name": "EventType", "type": "string"},
            {"name": "SourceDomain", "type": "string"},
            {"name": "SourceSystem", "type": "string"},
            {"name": "Version", "type": "string"},
            {"name": "CorrelationId", "type": "string"},
            {"name": "DateTime", "type": "long"},
            {
                "name": "User",
                "type": {
                    "type": "record",
                    "name": "User",
                    "fields": [
                        {"name": "Name", "type": "string"},
                        {"name": "Email", "type": "string"},
                    ],
                },
            },
            {"name": payload_name, "type": payload},
        ],
    }


_CHARGES = {
    "type": "record",
    "name": "Charges",
    "fields": [
        {"name": n, "type": "double"}
        for n in (
            "Rent",
            "ServiceCharge",
            "OtherCharges",
            "CombinedServiceCharges",
            "CombinedRentCharges",
            "TenancyInsuranceCharge",
            "OriginalRentCharge",
            "OriginalServiceCharge",
        )
    ],
}

_TENURE = {
    "type": "record",
    "name": "TenureInformation",
    "fields": [
        {"name": "Id", "type": "string"},
        {"name": "PaymentReference", "type": _optional("string")},
        {
            "name": "HouseholdMembers",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "HouseholdMember",
                    "fields": [
                        {"name": "Id", "type": "string"},
                        {"name": "FullName", "type": "string"},
                        {"name": "IsResponsible", "type": "boolean"},
                        {"name": "DateOfBirth", "type": "long"},
                        {"name": "PersonTenureType", "type": "string"},
                    ],
                },
            },
        },
        {
            "name": "TenuredAsset",
            "type": {
                "type": "record",
                "name": "TenuredAsset",
                "fields": [
                    {"name": "Id", "type": "string"},
                    {"name": "AssetType", "type": "string"},
                    {"name": "FullAddress", "type": "string"},
                    {"name": "Uprn", "type": "string"},
                    {"name": "PropertyReference", "type": "string"},
                ],
            },
        },
        {"name": "Charges", "type": _optional(_CHARGES)},
        {"name": "StartOfTenureDate", "type": _optional("long")},
        {"name": "EndOfTenureDate", "type": _optional("long")},
        {
            "name": "TenureType",
            "type": {
                "type": "record",
                "name": "TenureType",
                "fields": [
                    {"name": "Code", "type": "string"},
                    {"name": "Description", "type": "string"},
                ],
            },
        },
        {"name": "IsActive", "type": "boolean"},
        {
            "name": "Terminated",
            "type": {
                "type": "record",
                "name": "Terminated",
                "fields": [
                    {"name": "IsTerminated", "type": "boolean"},
                    {"name": "ReasonForTermination", "type": _optional("string")},
                ],
            },
        },
        {
            "name": "Notices",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Notice",
                    "fields": [
                        {"name": "Type", "type": "string"},
                        {"name": "ServedDate", "type": _optional("long")},
                        {"name": "ExpiryDate", "type": _optional("long")},
                    ],
                },
            },
        },
        {
            "name": "LegacyReferences",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "LegacyReference",
                    "fields": [
                        {"name": "Name", "type": "string"},
                        {"name": "Value", "type": "string"},
                    ],
                },
            },
        },
    ],
}

_CONTACT = {
    "type": "record",
    "name": "ContactDetails",
    "fields": [
        {"name": "Id", "type": "string"},
        {"name": "TargetId", "type": "string"},
        {"name": "TargetType", "type": "string"},
        {
            "name": "ContactInformation",
            "type": {
                "type": "record",
                "name": "ContactInformation",
                "fields": [
                    {"name": "ContactType", "type": "string"},
                    {"name": "SubType", "type": _optional("string")},
                    {"name": "Value", "type": "string"},
                    {"name": "Description", "type": _optional("string")},
                    {
                        "name": "AddressExtended",
                        "type": _optional(
                            {
                                "type": "record",
                                "name": "AddressExtended",
                                "fields": [
                                    {"name": "Uprn", "type": _optional("string")},
                                    {"name": "IsOverseasAddress", "type": "boolean"},
                                ],
                            }
                        ),
                    },
                ],
            },
        },
        {"name": "IsActive", "type": "boolean"},
        {"name": "CreatedBy", "type": "string"},
    ],
}

TENURE_V1: dict[str, Any] = _envelope("Tenure", _TENURE, "TenureEvent")
TENURE_V2: dict[str, Any] = copy.deepcopy(TENURE_V1)
TENURE_V2["fields"][-1]["type"]["fields"].append(
    {"name": ADDED_FIELD, "type": ["null", "boolean"], "default": None}
)
CONTACT_V1: dict[str, Any] = _envelope("ContactDetails", _CONTACT, "ContactDetailsEvent")


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, separators=(",", ":"))


__all__ = [
    "ADDED_FIELD",
    "CONTACT_TOPIC",
    "CONTACT_V1",
    "TENURE_TOPIC",
    "TENURE_V1",
    "TENURE_V2",
    "schema_text",
]
