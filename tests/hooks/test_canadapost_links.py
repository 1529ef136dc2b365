"""Links in Canada Post answers are followed only to the connection's own scheme and host (issue 16
item 5): a foreign ``href`` (another host, another port, plain http under https) never receives the
Basic credentials or the Bearer token; the hook refuses it before any byte is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow.hooks.canadapost import CanadaPostHook, CanadaPostPermanentError
from orderflow.hooks.canadapost_errors import CanadaPostForeignLinkError
from tests.hooks._cp_fixtures import PDF_BYTES, conn_json
from tests.hooks.conftest import Reply, ScriptedServer
from tests.hooks.test_canadapost_hook import FakeCP, make_hook


@pytest.fixture
def elsewhere() -> Iterator[ScriptedServer]:
    """Another server (another port, and named `localhost` rather than 127.0.0.1): must get nothing."""
    server = ScriptedServer()
    server.url = server.url.replace("127.0.0.1", "localhost")
    server.reply(Reply(200, PDF_BYTES, {"Content-Type": "application/pdf"}))
    yield server
    server.close()


@pytest.fixture(params=["xml", "portal"])
def cp(request, scripted_server, monkeypatch) -> FakeCP:
    CanadaPostHook._tokens.clear()
    fake = FakeCP(scripted_server, request.param)
    monkeypatch.setenv("AIRFLOW_CONN_CANADAPOST_DEFAULT", conn_json(scripted_server.url, api=request.param))
    yield fake
    CanadaPostHook._tokens.clear()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def test_a_label_link_to_another_host_is_refused_and_gets_no_credentials(cp, elsewhere, sleeps):
    link = f"{elsewhere.url}/rs/artifact/6e93d53968881714/10001782951/0"
    with pytest.raises(CanadaPostForeignLinkError) as caught:
        make_hook(sleeps).get_label(link)
    assert isinstance(caught.value, CanadaPostPermanentError)  # no retry can make it our host
    assert elsewhere.requests == []
    assert cp.api_requests() == []
    assert "localhost" in str(caught.value)  # says which host, never the credentials
    assert "s3cret-pass" not in str(caught.value)


def test_listed_shipment_links_to_another_host_are_not_followed(cp, elsewhere, sleeps):
    listing = cp.listing("340531309186521749")
    if cp.api == "xml":
        listing.body = listing.body.replace(cp.base.encode(), elsewhere.url.encode())
    else:
        listing.body["links"][0]["href"] = listing.body["links"][0]["href"].replace(cp.base, elsewhere.url)
    cp.on("GET", cp.shipments_path, listing)
    with pytest.raises(CanadaPostForeignLinkError):
        make_hook(sleeps).find_shipments(customer_request_id="252884385-A")
    assert elsewhere.requests == []
    assert [r.path for r in cp.api_requests()] == [cp.shipments_path]  # the listing only


@pytest.mark.parametrize("twist", ["scheme", "port", "userinfo"])
def test_same_host_with_another_scheme_or_port_is_foreign_too(cp, sleeps, twist):
    host_port = cp.base.split("://", 1)[1]
    link = {
        "scheme": f"https://{host_port}/rs/artifact/1/2/0",
        "port": "http://127.0.0.1:1/rs/artifact/1/2/0",
        "userinfo": f"http://evil@{host_port}/rs/artifact/1/2/0",
    }[twist]
    with pytest.raises(CanadaPostForeignLinkError):
        make_hook(sleeps).get_label(link)
    assert cp.api_requests() == []


def test_own_links_and_relative_links_are_still_followed(cp, sleeps):
    link_path = "/rs/artifact/6e93d53968881714/10001782951/0"
    cp.on("GET", link_path, Reply(200, PDF_BYTES, {"Content-Type": "application/pdf"}))
    body, _ = make_hook(sleeps).get_label(cp.base + link_path)
    assert body == PDF_BYTES
    # Same origin spelled differently (upper-case host part, explicit default port absent) still matches.
    body, _ = make_hook(sleeps).get_label(cp.base.replace("http://", "HTTP://") + link_path)
    assert body == PDF_BYTES
