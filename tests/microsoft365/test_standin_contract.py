"""The stand-in cannot drift from Microsoft's contract: what it serves is parsed with Microsoft's own Graph
models (msgraph-sdk, a test dependency) and must fit them: no property they do not know, every value read as
the type they declare. The checker is shown to catch a drifted item too."""
import re

import pytest
import requests

pytest.importorskip("msgraph", reason="msgraph-sdk is a test dependency (pyproject.toml, [test])")

from kiota_abstractions.serialization import Parsable  # noqa: E402
from kiota_serialization_json.json_parse_node import JsonParseNode  # noqa: E402
from msgraph.generated.models.company_subscription import CompanySubscription  # noqa: E402
from msgraph.generated.models.company_subscription_collection_response import (  # noqa: E402
    CompanySubscriptionCollectionResponse,
)
from msgraph.generated.models.organization_collection_response import OrganizationCollectionResponse  # noqa: E402
from msgraph.generated.models.subscribed_sku_collection_response import SubscribedSkuCollectionResponse  # noqa: E402

from .standin import subscribed_sku, subscription  # noqa: E402

# Annotations OData puts on a collection that the SDK's models leave to additional_data.
ODATA_ANNOTATIONS = {"@odata.context"}


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.replace("@odata.", "odata_")).lower()


def misfits(json_value, model, where="$"):
    """Where a JSON object does not fit the SDK model it is parsed as: unknown keys, values read as nothing."""
    try:
        parsed = JsonParseNode(json_value).get_object_value(model)
    except ValueError as error:  # kiota refuses a value it cannot read as the declared type (a date, say)
        return [f"{where}: {error}"]
    return _compare(json_value, parsed, where)


def _compare(json_value, parsed, where):
    problems = [f"{where}.{key}: not in {type(parsed).__name__}" for key in parsed.additional_data
                if key not in ODATA_ANNOTATIONS]
    for key, value in json_value.items():
        if key in ODATA_ANNOTATIONS or key in parsed.additional_data or value is None:
            continue
        read = getattr(parsed, snake(key))
        if read is None:
            problems.append(f"{where}.{key}: {value!r} is not what {type(parsed).__name__} declares")
        elif isinstance(value, list):
            for n, (item, read_item) in enumerate(zip(value, read)):
                if isinstance(read_item, Parsable):
                    problems += _compare(item, read_item, f"{where}.{key}[{n}]")
        elif isinstance(read, Parsable):
            problems += _compare(value, read, f"{where}.{key}")
    return problems


@pytest.fixture
def graph_get(microsoft, standin):
    tenant = microsoft.add_tenant(
        "Contoso", consented=True,
        subscriptions=[subscription(), subscription("SPB", 10, "Warning", None, True)],
        skus=[subscribed_sku("x"), subscribed_sku("x", "SPB", 10, 0)],
    )
    token = requests.post(f"{standin.login_url}/{tenant.id}/oauth2/v2.0/token", timeout=10, verify=standin.ca_file, data={
        "grant_type": "client_credentials", "client_id": microsoft.client_id, "client_secret": microsoft.client_secret,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]

    def get(path):
        return requests.get(f"{standin.graph_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                            verify=standin.ca_file).json()

    return get


@pytest.mark.parametrize(("path", "model"), [
    ("/v1.0/directory/subscriptions", CompanySubscriptionCollectionResponse),
    ("/v1.0/subscribedSkus", SubscribedSkuCollectionResponse),
    ("/v1.0/organization", OrganizationCollectionResponse),
])
def test_each_collection_fits_microsofts_models(graph_get, microsoft, path, model):
    microsoft.page_size = 1
    page = graph_get(path)
    assert misfits(page, model) == []
    parsed = JsonParseNode(page).get_object_value(model)
    assert len(parsed.value) == 1
    if path != "/v1.0/organization":
        assert parsed.odata_next_link.startswith(microsoft.base_url + path)


def test_the_fields_the_portal_reads_come_through_typed(graph_get):
    page = JsonParseNode(graph_get("/v1.0/directory/subscriptions")).get_object_value(
        CompanySubscriptionCollectionResponse)
    first, second = page.value
    assert (first.sku_part_number, first.total_licenses, first.status, first.is_trial) == (
        "ENTERPRISEPACK", 25, "Enabled", False)
    assert first.next_lifecycle_date_time.isoformat() == "2027-12-31T23:59:59+00:00"
    assert (second.status, second.is_trial, second.next_lifecycle_date_time) == ("Warning", True, None)


@pytest.mark.parametrize("drift", [
    {"totalLicences": 25},             # a misspelt property
    {"totalLicenses": "25"},           # a number sent as text
    {"isTrial": "false"},              # a boolean sent as text
    {"nextLifecycleDateTime": "31/12/2027"},  # not a DateTimeOffset
])
def test_the_checker_catches_a_drifted_item(drift):
    item = {**subscription(), **drift}
    assert misfits(item, CompanySubscription) != []
    assert misfits(subscription(), CompanySubscription) == []


def test_a_subscribed_sku_with_its_nested_units_fits():
    from msgraph.generated.models.subscribed_sku import SubscribedSku

    assert misfits(subscribed_sku("72f988bf-86f1-41af-91ab-2d7cd011db47"), SubscribedSku) == []
