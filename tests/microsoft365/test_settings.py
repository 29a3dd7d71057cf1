"""The Microsoft 365 settings, checked at start like every other (config.py)."""
import pytest

from config import ConfigError, TestConfig
from webapp import create_app

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def test_the_defaults_are_microsofts_and_the_feature_is_off(app):
    assert app.config["M365_LOGIN_URL"] == "https://login.microsoftonline.com"
    assert app.config["M365_GRAPH_URL"] == "https://graph.microsoft.com"
    assert app.config["M365_CLIENT_ID"] == "" and app.config["AUTO_ACCEPT_VERIFIED"] is False


@pytest.mark.parametrize("setting, message", [
    ({"M365_CLIENT_ID": "contoso-app"}, "M365_CLIENT_ID='contoso-app' is not an application"),
    ({"M365_CLIENT_ID": CLIENT_ID}, "M365_CLIENT_SECRET is not set"),
    ({"M365_LOGIN_URL": "http://login.microsoftonline.com"}, "M365_LOGIN_URL"),
    ({"M365_GRAPH_URL": "https://graph.microsoft.com/v1.0"}, "M365_GRAPH_URL"),
    ({"M365_GRAPH_URL": "graph.microsoft.com"}, "M365_GRAPH_URL"),
    ({"M365_LOGIN_URL": "https://login.example/?x=1"}, "M365_LOGIN_URL"),
])
def test_unusable_microsoft_365_settings_stop_the_app(database_url, setting, message):
    with pytest.raises(ConfigError, match=message):
        create_app(TestConfig, DATABASE_URL=database_url, **setting)


def test_a_client_id_with_its_secret_is_accepted(database_url):
    app = create_app(TestConfig, DATABASE_URL=database_url, M365_CLIENT_ID=CLIENT_ID, M365_CLIENT_SECRET="s3cret")
    assert app.config["M365_CLIENT_ID"] == CLIENT_ID
