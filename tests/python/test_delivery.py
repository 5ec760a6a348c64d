"""Delivery semantics of the HTTP endpoint spec beyond the happy path: retries keep the
request id, 413 is final, invalid 200s are failures, UpdateDestination reaches retries
in flight, the URL is used exactly as given; and the stream quota."""

import base64
import gzip
import json
import re
import time

import botocore.exceptions
import pytest

from conftest import FAST_DELIVERY, error_of, http_destination, unique, wait_for


def backup_docs(h, bucket):
    root = h.data_dir / "s3" / bucket
    if not root.exists():
        return []
    return [json.loads(line) for p in sorted(root.rglob("*")) if p.is_file() for line in p.read_text().splitlines()]


def make(fh, receiver, path, bucket=None, retry=60, url=None):
    name = unique("dlv")
    bucket = bucket or unique("bk")
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        HttpEndpointDestinationConfiguration=http_destination(
            url or receiver.url(path),
            bucket=bucket,
            RetryOptions={"DurationInSeconds": retry},
            S3Configuration={"BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 1}},
        ),
    )
    return name, bucket


def test_retries_keep_the_request_id(hydrant, receiver):
    fh = hydrant.client()
    path = f"/flaky2/{unique('p')}"
    name, bucket = make(fh, receiver, path)
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"r1"}, {"Data": b"r2"}])
    reqs = wait_for(lambda: len(receiver.requests_for(path)) >= 3 and receiver.requests_for(path), what="3 attempts")
    ids = {q["headers"]["x-amz-firehose-request-id"] for q in reqs}
    assert len(ids) == 1 and {q["body"]["requestId"] for q in reqs} == ids
    assert all(q["records"] == [b"r1", b"r2"] for q in reqs)
    wait_for(
        lambda: hydrant.metric("hydrant_firehose_delivery_records_total", stream=name, outcome="ok") == 2,
        what="the batch counted as delivered",
    )
    assert hydrant.metric("hydrant_firehose_delivery_attempts_total", stream=name, outcome="HttpEndpoint.DestinationException") == 2
    time.sleep(0.3)
    assert len(receiver.requests_for(path)) == 3, "nothing is sent again once accepted"
    assert backup_docs(hydrant, bucket) == []


def test_413_is_final(hydrant, receiver):
    fh = hydrant.client()
    path = f"/toolarge/{unique('p')}"
    name, bucket = make(fh, receiver, path)
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"too big for them"})
    receiver.wait_records(path, 1)
    wait_for(
        lambda: hydrant.metric("hydrant_firehose_delivery_records_total", stream=name, outcome="dropped_413") == 1,
        what="the 413 outcome",
    )
    time.sleep(0.6)  # with a 50 ms back-off, a retry would have happened by now
    assert len(receiver.requests_for(path)) == 1, "a 413 is not retried"
    assert backup_docs(hydrant, bucket) == [], "a 413 batch is not backed up"


def test_invalid_200_is_a_failure(hydrant, receiver):
    fh = hydrant.client()
    path = f"/text/{unique('p')}"
    name, bucket = make(fh, receiver, path, retry=1)
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"answered as text"})
    docs = wait_for(lambda: backup_docs(hydrant, bucket), timeout=15, what="the backup of the invalid answers")
    assert len(docs) == 1
    assert docs[0]["errorCode"] == "HttpEndpoint.InvalidResponseFromDestination"
    assert base64.b64decode(docs[0]["rawData"]) == b"answered as text"
    assert docs[0]["attemptsMade"] == len(receiver.requests_for(path)) >= 2


def test_update_reaches_retries_in_flight(hydrant, receiver):
    fh = hydrant.client()
    bad, good = f"/fail/{unique('p')}", f"/ok/{unique('p')}"
    name, bucket = make(fh, receiver, bad)
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"patience"})
    wait_for(lambda: len(receiver.requests_for(bad)) >= 2, what="failing attempts")
    fh.update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId="1",
        DestinationId="destinationId-000000000001",
        HttpEndpointDestinationUpdate={"EndpointConfiguration": {"Url": receiver.url(good)}},
    )
    assert receiver.wait_records(good, 1) == [b"patience"]
    first_id = receiver.requests_for(bad)[0]["headers"]["x-amz-firehose-request-id"]
    assert receiver.requests_for(good)[0]["headers"]["x-amz-firehose-request-id"] == first_id
    assert backup_docs(hydrant, bucket) == []


def test_url_is_used_exactly(hydrant, receiver):
    fh = hydrant.client()
    path = f"/ok/{unique('p')}/v1/input?dd-protocol=aws-kinesis-firehose&x=a%2Fb"
    name, _ = make(fh, receiver, path)
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"q"})
    assert receiver.wait_records(path, 1) == [b"q"]


def test_stream_quota(hydrants, receiver):
    h = hydrants("quota", config=FAST_DELIVERY + "\n[limits]\nmax_streams = 2\n")
    fh = h.client()
    for n in ("q1", "q2"):
        fh.create_delivery_stream(DeliveryStreamName=n, HttpEndpointDestinationConfiguration=http_destination(receiver.url("/ok/q")))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.create_delivery_stream(DeliveryStreamName="q3", HttpEndpointDestinationConfiguration=http_destination(receiver.url("/ok/q")))
    assert error_of(ei)[0::2] == ("LimitExceededException", 400)
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == ["q1", "q2"]


def test_acknowledged_records_survive_a_crash(hydrants, receiver):
    """Records acknowledged by a Put are on disk: after SIGKILL and a restart on the same
    data directory they are still delivered, and the stream's definition is intact."""
    first = hydrants("crash")
    fh = first.client()
    down, up = f"/fail/{unique('p')}", f"/ok/{unique('p')}"
    name, _ = make(fh, receiver, down, retry=600)
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "kept", "Value": "yes"}])
    records = [b"durable-1", b"durable-2", b"durable-3"]
    assert fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in records[:2]])["FailedPutCount"] == 0
    assert fh.put_record(DeliveryStreamName=name, Record={"Data": records[2]})["RecordId"]
    wait_for(lambda: len(receiver.records(down)) >= 3, what="delivery attempts of all three records")
    first.proc.kill()
    first.proc.wait(timeout=10)

    second = hydrants("crash", workdir=first.workdir)
    assert (second.key, second.secret) == (first.key, first.secret), "the generated credentials are reused"
    fh = second.client()
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["Destinations"][0]["HttpEndpointDestinationDescription"]["EndpointConfiguration"]["Url"] == receiver.url(down)
    assert fh.list_tags_for_delivery_stream(DeliveryStreamName=name)["Tags"] == [{"Key": "kept", "Value": "yes"}]
    fh.update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId=d["VersionId"],
        DestinationId="destinationId-000000000001",
        HttpEndpointDestinationUpdate={"EndpointConfiguration": {"Url": receiver.url(up)}},
    )
    assert receiver.wait_records(up, 3) == records
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"after-restart"})
    assert receiver.wait_records(up, 4)[3:] == [b"after-restart"]


def test_failed_backup_compression_and_error_prefix(hydrant, receiver):
    """The backup follows its own CompressionFormat, and an ErrorOutputPrefix with
    expressions replaces the default <type>/YYYY/MM/DD/HH/ layout."""
    fh = hydrant.client()
    name, bucket, path = unique("gz"), unique("bk"), f"/fail/{unique('p')}"
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        HttpEndpointDestinationConfiguration=http_destination(
            receiver.url(path),
            bucket=bucket,
            RetryOptions={"DurationInSeconds": 0},
            S3Configuration={
                "BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 1},
                "CompressionFormat": "GZIP",
                "Prefix": "data/",
                "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/",
            },
        ),
    )
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"gz-1"}, {"Data": b"gz-2"}])
    root = hydrant.data_dir / "s3" / bucket
    files = wait_for(lambda: root.exists() and [p for p in root.rglob("*") if p.is_file()], timeout=10, what="the backup")
    assert len(files) == 1
    rel = files[0].relative_to(root).as_posix()
    year = time.gmtime().tm_year
    assert re.fullmatch(rf"errors/http-endpoint-failed/year={year}/{name}-1-\d{{4}}(-\d\d){{5}}-[0-9a-f-]{{36}}\.gz", rel), rel
    docs = [json.loads(line) for line in gzip.decompress(files[0].read_bytes()).decode().splitlines()]
    assert [base64.b64decode(d["rawData"]) for d in docs] == [b"gz-1", b"gz-2"]
    assert all(d["attemptsMade"] == 1 for d in docs), "retry duration 0: a single attempt"


def test_redirects_are_not_followed(hydrant, receiver):
    fh = hydrant.client()
    tail = f"/{unique('p')}"
    name, bucket = make(fh, receiver, f"/redirect{tail}", retry=0)
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"stay here"})
    docs = wait_for(lambda: backup_docs(hydrant, bucket), what="the backup of the redirected batch")
    assert docs[0]["errorCode"] == "HttpEndpoint.DestinationException"
    assert "302" in docs[0]["errorMessage"]
    assert len(receiver.requests_for(f"/redirect{tail}")) == 1
    assert receiver.requests_for(f"/ok{tail}") == []
