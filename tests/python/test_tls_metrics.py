"""HTTPS with `hydrant dev-certs` certificates (the aws CLI and boto3 verify them), and
the /metrics and /health endpoints."""

import os
import subprocess

import pytest
import requests

from conftest import http_destination, unique, wait_for


@pytest.fixture(scope="module")
def tls(hydrants, tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    out = subprocess.run(
        [os.environ["HYDRANT_BIN"], "dev-certs", "--out-dir", str(certs)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    for f in ("ca.pem", "server.pem", "server-key.pem"):
        assert (certs / f).stat().st_size > 0, f
    h = hydrants("tls", tls=certs)
    return h, certs


def test_aws_cli_over_tls(tls, receiver):
    h, certs = tls
    https = f"https://127.0.0.1:{h.tls_port}"
    name = unique("tls")
    path = f"/ok/{name}"

    fh = h.client(endpoint=https, verify=str(certs / "ca.pem"))
    fh.create_delivery_stream(DeliveryStreamName=name, HttpEndpointDestinationConfiguration=http_destination(receiver.url(path)))

    r = h.aws("list-delivery-streams", endpoint=https, extra=["--ca-bundle", str(certs / "ca.pem")])
    assert r.rc == 0, r.stderr
    assert r.json == {"DeliveryStreamNames": [name], "HasMoreDeliveryStreams": False}

    r = h.aws(
        "put-record",
        "--delivery-stream-name",
        name,
        "--record",
        "Data=over-tls",
        endpoint=https,
        extra=["--ca-bundle", str(certs / "ca.pem")],
    )
    assert r.rc == 0, r.stderr
    assert receiver.wait_records(path, 1) == [b"over-tls"]

    # The certificate really is checked: without the CA the CLI refuses the server.
    r = h.aws("list-delivery-streams", endpoint=https)
    assert r.rc != 0
    assert "SSL" in r.stderr or "certificate" in r.stderr.lower()
    # The same service still answers plain HTTP on its other listener.
    assert name in h.client().list_delivery_streams()["DeliveryStreamNames"]


def test_health(hydrant):
    r = requests.get(hydrant.endpoint + "/health", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "ok"
    before = body["streams"]
    fh = hydrant.client()
    name = unique("health")
    fh.create_delivery_stream(DeliveryStreamName=name, HttpEndpointDestinationConfiguration=http_destination("http://127.0.0.1:9/ok"))
    assert requests.get(hydrant.endpoint + "/health", timeout=10).json()["streams"] == before + 1
    fh.delete_delivery_stream(DeliveryStreamName=name)
    assert requests.get(hydrant.endpoint + "/health", timeout=10).json()["streams"] == before


def test_metrics(hydrant, receiver):
    fh = hydrant.client()
    ok_name, bad_name = unique("m-ok"), unique("m-bad")
    fh.create_delivery_stream(
        DeliveryStreamName=ok_name, HttpEndpointDestinationConfiguration=http_destination(receiver.url(f"/ok/{ok_name}"))
    )
    fh.create_delivery_stream(
        DeliveryStreamName=bad_name,
        HttpEndpointDestinationConfiguration=http_destination(
            receiver.url(f"/fail/{bad_name}"), RetryOptions={"DurationInSeconds": 0}
        ),
    )
    fh.put_record(DeliveryStreamName=ok_name, Record={"Data": b"m1"})
    fh.put_record_batch(DeliveryStreamName=ok_name, Records=[{"Data": b"m2"}, {"Data": b"m3"}])
    fh.put_record(DeliveryStreamName=bad_name, Record={"Data": b"doomed"})
    receiver.wait_records(f"/ok/{ok_name}", 3)
    receiver.wait_records(f"/fail/{bad_name}", 1)

    r = requests.get(hydrant.endpoint + "/metrics", timeout=10)
    assert r.status_code == 200
    assert "text" in r.headers["Content-Type"]
    text = r.text
    assert "# TYPE hydrant_firehose_records_in counter" in text
    assert hydrant.metric("hydrant_firehose_records_in_total", stream=ok_name) == 3
    assert hydrant.metric("hydrant_firehose_records_in_total", stream=bad_name) == 1
    assert hydrant.metric("hydrant_firehose_bytes_in_total", stream=ok_name) == 6
    assert hydrant.metric("hydrant_firehose_api_requests_total", operation="PutRecordBatch", outcome="ok") >= 1

    # Delivery attempts by outcome: ok for the healthy stream, the error code for the other.
    wait_for(
        lambda: hydrant.metric("hydrant_firehose_delivery_attempts_total", stream=ok_name, outcome="ok"),
        what="an ok delivery attempt",
    )
    assert hydrant.metric("hydrant_firehose_delivery_attempts_total", stream=ok_name, outcome="ok") >= 1
    assert hydrant.metric("hydrant_firehose_delivery_attempts_total", stream=ok_name, outcome="HttpEndpoint.DestinationException") is None
    failed = wait_for(
        lambda: hydrant.metric(
            "hydrant_firehose_delivery_attempts_total", stream=bad_name, outcome="HttpEndpoint.DestinationException"
        ),
        what="a failed delivery attempt",
    )
    assert failed == len(receiver.requests_for(f"/fail/{bad_name}")) == 1, "retry duration 0: one attempt"
    assert hydrant.metric("hydrant_firehose_delivery_attempts_total", stream=bad_name, outcome="ok") is None
    wait_for(
        lambda: hydrant.metric("hydrant_firehose_delivery_records_total", stream=bad_name, outcome="backed_up") == 1,
        what="the backed-up record count",
    )
    # Counted once the endpoint's answer is in, a moment after the receiver saw the records.
    wait_for(
        lambda: hydrant.metric("hydrant_firehose_delivery_records_total", stream=ok_name, outcome="ok") == 3,
        what="3 delivered records counted",
    )

    # Refused calls are counted by their error code.
    with pytest.raises(Exception):
        fh.describe_delivery_stream(DeliveryStreamName="nope-not-here")
    assert (
        hydrant.metric(
            "hydrant_firehose_api_requests_total", operation="DescribeDeliveryStream", outcome="ResourceNotFoundException"
        )
        >= 1
    )
    assert hydrant.secret not in text
