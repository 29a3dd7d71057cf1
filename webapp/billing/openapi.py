"""The OpenAPI 3.1 document of the billing API, built from the same constants the views check."""
from .rules import CYCLE_PATTERN, MODES, SUBSCRIPTION

MAX_PAGE = 100_000
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
    "additionalProperties": False,
}

_ROW = {
    "type": "object",
    "required": ["account_id", "account", "cycle", "cycle_start", "mode", "reason", "byol_seats",
                 "earliest_expiration", "account_status", "can_still_change", "verified"],
    "additionalProperties": False,
    "properties": {
        "account_id": {"type": "integer", "minimum": 1},
        "account": {"type": "string"},
        "cycle": {"type": "string", "pattern": CYCLE_PATTERN},
        "cycle_start": {"type": "string", "format": "date",
                        "description": "The account's billing day in the month, or the month's last day."},
        "mode": {"type": "string", "enum": list(MODES)},
        "reason": {"type": "string",
                   "description": "Not enrolled, no license on file, which plans are expired or have rejected proof; "
                                  "'every license current' for BYOL."},
        "byol_seats": {"type": "integer", "minimum": 0,
                       "description": f"Seats billed BYOL; 0 when the mode is {SUBSCRIPTION}."},
        "earliest_expiration": {"type": ["string", "null"], "format": "date"},
        "account_status": {"type": "string", "enum": ["active", "suspended"],
                           "description": "The account's status at the cycle start (now, for a cycle not started)."},
        "can_still_change": {"type": "boolean",
                             "description": "True for a cycle not yet started: decided from what is on file now."},
        "verified": {"type": ["boolean", "null"],
                     "description": "Microsoft 365's latest snapshot of the account's tenant confirms every license now "
                                    "on file (true) or not (false); null when no tenant is connected."},
    },
}


def _error_response(description, headers=None):
    response = {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if headers:
        response["headers"] = headers
    return response


def document():
    """The OpenAPI 3.1 document, as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Client Licenses billing API",
            "version": "1",
            "description": "Per account and billing cycle: billed BYOL or by subscription, and why. Read-only.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/billing": {
                "get": {
                    "operationId": "billingReport",
                    "summary": "The billing report for a cycle, one row per account, by account name.",
                    "security": [{"bearerAuth": []}],
                    "parameters": [
                        {"name": "cycle", "in": "query", "required": False,
                         "description": "The month whose cycles to report (each account's cycle starts on its "
                                        "billing day in it). Default: next month.",
                         "schema": {"type": "string", "pattern": CYCLE_PATTERN}},
                        {"name": "mode", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": list(MODES)}},
                        {"name": "page", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}},
                        {"name": "per_page", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                                    "default": DEFAULT_PER_PAGE}},
                    ],
                    "responses": {
                        "200": {
                            "description": "One page of the report.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BillingPage"}}},
                        },
                        "400": _error_response("A parameter is not valid."),
                        "401": _error_response(
                            "No valid bearer token.",
                            {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
                        ),
                        "429": _error_response(
                            "Too many requests with this token; try again after Retry-After seconds.",
                            {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
                        ),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {
                        "200": {"description": "The OpenAPI document.",
                                "content": {"application/json": {"schema": {"type": "object"}}}},
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A token from `flask create-api-token NAME`."}},
            "schemas": {
                "Error": _ERROR,
                "BillingRow": _ROW,
                "BillingPage": {
                    "type": "object",
                    "required": ["cycle", "page", "per_page", "next_page", "accounts"],
                    "additionalProperties": False,
                    "properties": {
                        "cycle": {"type": "string", "pattern": CYCLE_PATTERN},
                        "page": {"type": "integer", "minimum": 1},
                        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                        "next_page": {"type": ["integer", "null"], "minimum": 2},
                        "accounts": {"type": "array", "items": {"$ref": "#/components/schemas/BillingRow"}},
                    },
                },
            },
        },
    }
