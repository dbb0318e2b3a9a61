"""parse_http_url: a web URL (a project's webhook) split into where to connect and what to ask."""

from __future__ import annotations

import pytest

from migrations_app.engine.endpoints import parse_http_url, resolve_endpoint
from migrations_app.engine.errors import EndpointRejected


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "target"),
    [
        ("https://Hooks.Example.com/in?x=1&y=2", "https", "hooks.example.com", 443, "/in?x=1&y=2"),
        ("http://hooks.example.com", "http", "hooks.example.com", 80, "/"),
        ("HTTP://10.0.0.5:8080/a/b", "http", "10.0.0.5", 8080, "/a/b"),
        ("https://[2001:db8::1]:8443/h", "https", "2001:db8::1", 8443, "/h"),
    ],
)
def test_it_splits_a_web_url(url, scheme, host, port, target):
    parsed = parse_http_url(url)
    assert (parsed.endpoint.scheme, parsed.endpoint.host, parsed.endpoint.port) == (
        scheme,
        host,
        port,
    )
    assert parsed.target == target


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "URL is empty"),
        ("   ", "URL is empty"),
        ("hooks.example.com/in", "has no scheme"),
        ("tcp://hooks.example.com:19530", "URL scheme 'tcp' is not allowed: use http or https"),
        ("javascript://x/%0aalert(1)", "URL scheme 'javascript' is not allowed"),
        ("https://u:p@hooks.example.com/", "must not contain a user name or password"),
        ("https://hooks.example.com/in#x", "must not have a #fragment"),
        ("https://hooks.example.com/a b", "must not contain spaces or control characters"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "must not contain spaces or control"),
        ("https:///in", "has no host"),
        ("https://hooks.example.com:70000/", "has an invalid port"),
        ("https://a.global-cluster.example/", "is a global-cluster host"),
    ],
)
def test_it_refuses_what_is_no_web_url(url, message):
    with pytest.raises(EndpointRejected) as refused:
        parse_http_url(url)
    assert message in refused.value.message


def test_its_host_passes_the_endpoint_rules():
    with pytest.raises(EndpointRejected, match="is a private address"):
        resolve_endpoint(parse_http_url("http://10.0.0.5:8080/a").endpoint, False)
    with pytest.raises(EndpointRejected, match="cloud metadata"):
        resolve_endpoint(parse_http_url("http://169.254.169.254/latest").endpoint, True)
    target = resolve_endpoint(parse_http_url("http://10.0.0.5:8080/a").endpoint, True)
    assert str(target.address) == "10.0.0.5"
