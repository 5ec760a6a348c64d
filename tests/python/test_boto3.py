"""boto3 and hand-signed raw requests: the data path, the exact wire bytes, every way a
Put is refused, and that a refused request leaves nothing behind."""

import json
import uuid

import botocore.exceptions
import pytest

from conftest import ACCOUNT, STATUS, assert_aws_error, b64, error_of, http_destination, unique

@pytest.fixture(scope="module")
def fh(hydrant):
    return hydrant.client()


@pytest.fixture(scope="module")
def stream(hydrant, fh, receiver):
    """A stream whose deliveries all succeed, shared by the refusal tests."""
    name = unique("b3-errors")
    path = f"/ok/{name}"
    fh.create_delivery_stream(DeliveryStreamName=name, HttpEndpointDestinationConfiguration=http_destination(receiver.url(path)))
    return name, path


def assert_nothing_stored(hydrant, fh, receiver, stream, records_in_before, delivered_before):
    """Nothing of a refused request was stored: the next good record is delivered alone,
    and the stream's accepted-records counter moved by exactly that one record."""
    name, path = stream
    marker = f"marker-{uuid.uuid4()}".encode()
    fh.put_record(DeliveryStreamName=name, Record={"Data": marker})
    got = receiver.wait_records(path, delivered_before + 1)
    assert got[delivered_before:] == [marker]
    after = hydrant.metric("hydrant_firehose_records_in_total", stream=name) or 0
    assert after == records_in_before + 1


@pytest.fixture
def guard(hydrant, fh, receiver, stream):
    """Snapshots the stream before a refusal test and checks nothing changed after it."""
    name, path = stream
    before = hydrant.metric("hydrant_firehose_records_in_total", stream=name) or 0
    delivered = len(receiver.records(path))
    yield
    assert_nothing_stored(hydrant, fh, receiver, stream, before, delivered)


# --------------------------------------------------------------------------- data path


def test_data_path_and_response_shapes(hydrant, fh, receiver):
    name = unique("b3-data")
    path = f"/ok/{name}"
    out = fh.create_delivery_stream(
        DeliveryStreamName=name,
        HttpEndpointDestinationConfiguration=http_destination(
            receiver.url(path), RequestConfiguration={"ContentEncoding": "GZIP"}
        ),
    )
    assert out["DeliveryStreamARN"] == f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/{name}"

    single = bytes(range(256))  # every byte value survives the base64 round trip
    r = fh.put_record(DeliveryStreamName=name, Record={"Data": single})
    meta = r["ResponseMetadata"]
    assert meta[STATUS] == 200
    assert meta["RequestId"] and meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
    assert r["Encrypted"] is False and r["RecordId"]

    largest = b"x" * 1_024_000  # exactly the per-record limit is accepted
    batch = [b'{"log":"a"}\n', b"", largest, "snowman \u2603".encode()]
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in batch])
    assert r["FailedPutCount"] == 0
    assert r["Encrypted"] is False
    assert len(r["RequestResponses"]) == len(batch)
    assert all(set(x) == {"RecordId"} for x in r["RequestResponses"])
    assert len({x["RecordId"] for x in r["RequestResponses"]}) == len(batch)

    got = receiver.wait_records(path, 1 + len(batch))
    assert got == [single] + batch
    assert all(q["headers"].get("content-encoding") == "gzip" for q in receiver.requests_for(path))

    # 500 records is the most one batch may hold.
    many = [f"rec-{i}".encode() for i in range(500)]
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in many])
    assert r["FailedPutCount"] == 0 and len(r["RequestResponses"]) == 500
    got = receiver.wait_records(path, 1 + len(batch) + 500)
    assert got[1 + len(batch) :] == many


def test_put_record_batch_body_is_compact(hydrant, fh, stream, receiver):
    name, path = stream
    raw_bodies = []

    def capture(http_response, **kwargs):
        raw_bodies.append(http_response.content)

    fh.meta.events.register("after-call.firehose.PutRecordBatch", capture)
    try:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"compact-1"}, {"Data": b"compact-2"}])
    finally:
        fh.meta.events.unregister("after-call.firehose.PutRecordBatch", capture)
    assert len(raw_bodies) == 1
    assert b'"FailedPutCount":0' in raw_bodies[0], raw_bodies[0]

    # The same through a hand-signed request, looking at the bytes on the wire.
    body = {"DeliveryStreamName": name, "Records": [{"Data": b64(b"compact-3")}]}
    resp = hydrant.raw("PutRecordBatch", body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/x-amz-json-1.1")
    assert resp.headers["x-amzn-RequestId"]
    assert resp.content.startswith(b'{"FailedPutCount":0,'), resp.content
    assert b" " not in resp.content
    doc = json.loads(resp.content)
    assert doc["Encrypted"] is False and len(doc["RequestResponses"]) == 1
    assert receiver.wait_records(path, 3)[-3:] == [b"compact-1", b"compact-2", b"compact-3"]


def test_put_record_batch_json_spellings(hydrant, fh, receiver):
    """Every legal spelling of a PutRecordBatch body is read the same. The service reads
    the plain shape without checking the Data strings (base64 decoding does), and leaves
    any other spelling to its JSON parser: escapes in Data, whitespace, key order, an
    escaped stream name."""
    name = unique("b3-spellings")
    path = f"/ok/{name}"
    fh.create_delivery_stream(DeliveryStreamName=name, HttpEndpointDestinationConfiguration=http_destination(receiver.url(path)))
    slashes = b"?>?>?>"  # base64 "Pz4/Pz4/"
    assert "/" in b64(slashes)
    escaped_name = "".join(f"\\u{ord(c):04x}" for c in name)
    bodies = [
        ('{"DeliveryStreamName":"%s","Records":[{"Data":"%s"}]}' % (name, b64(b"plain")), [b"plain"]),
        ('\n { "Records" : [ { "Data" : "%s" } ,\t{"Data":"%s"} ] ,\r\n "DeliveryStreamName" : "%s" } \n'
         % (b64(b"spaced-1"), b64(b"spaced-2"), name), [b"spaced-1", b"spaced-2"]),
        ('{"DeliveryStreamName":"%s","Records":[{"Data":"%s"},{"Data":"%s"}]}'
         % (name, b64(slashes).replace("/", "\\/"), b64(b"after")), [slashes, b"after"]),
        ('{"DeliveryStreamName":"%s","Records":[{"Data":"\\u00%02x%s"}]}'
         % (name, ord(b64(b"unicode")[0]), b64(b"unicode")[1:]), [b"unicode"]),
        ('{"DeliveryStreamName":"%s","Records":[{"Data":"%s"}]}' % (escaped_name, b64(b"escaped name")), [b"escaped name"]),
    ]
    sent = []
    for body, records in bodies:
        resp = hydrant.raw("PutRecordBatch", body)
        assert resp.status_code == 200, (body, resp.text)
        doc = json.loads(resp.content)
        assert doc["FailedPutCount"] == 0 and len(doc["RequestResponses"]) == len(records), (body, doc)
        sent.extend(records)
    assert receiver.wait_records(path, len(sent)) == sent


def test_request_id_on_success_and_errors(hydrant, fh):
    ok = fh.list_delivery_streams()
    assert ok["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.describe_delivery_stream(DeliveryStreamName="does-not-exist")
    code, message, status, request_id = error_of(ei)
    assert (code, status) == ("ResourceNotFoundException", 400)
    assert message == f"Firehose does-not-exist under account {ACCOUNT} not found."
    assert request_id
    headers = ei.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-requestid"] == request_id
    ids = {request_id, ok["ResponseMetadata"]["RequestId"]}
    assert len(ids) == 2, "every response has its own request id"


# --------------------------------------------------------------------------- refusals


def test_more_than_500_records(hydrant, fh, stream, guard):
    name, _ = stream
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"r"}] * 501)
    code, message, status, rid = error_of(ei)
    assert (code, status) == ("ValidationException", 400)
    assert "'records'" in message and "less than or equal to 500" in message
    assert rid
    resp = hydrant.raw("PutRecordBatch", {"DeliveryStreamName": name, "Records": [{"Data": "cg=="}] * 501})
    assert "less than or equal to 500" in assert_aws_error(resp, 400, "ValidationException")


def test_empty_batch(hydrant, stream, guard):
    name, _ = stream
    resp = hydrant.raw("PutRecordBatch", {"DeliveryStreamName": name, "Records": []})
    assert "records" in assert_aws_error(resp, 400, "ValidationException")


def test_oversized_record_in_batch(hydrant, fh, stream, guard):
    name, _ = stream
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.put_record_batch(
            DeliveryStreamName=name, Records=[{"Data": b"fine"}, {"Data": b"y" * 1_024_001}, {"Data": b"fine too"}]
        )
    code, message, status, _ = error_of(ei)
    assert (code, status) == ("ValidationException", 400)
    assert "records.2.member.data" in message
    assert "records.1.member.data" not in message and "records.3.member.data" not in message
    assert len(message) < 2048, "the record's data must not be echoed whole"
    body = {"DeliveryStreamName": name, "Records": [{"Data": b64(b"ok")}, {"Data": b64(b"y" * 1_024_001)}]}
    assert "records.2.member.data" in assert_aws_error(hydrant.raw("PutRecordBatch", body), 400, "ValidationException")


def test_oversized_single_record(hydrant, fh, stream, guard):
    name, _ = stream
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"z" * 1_024_001})
    code, message, status, _ = error_of(ei)
    assert (code, status) == ("ValidationException", 400)
    assert "record.data" in message


def test_batch_over_4_mib(hydrant, fh, stream, guard):
    name, _ = stream
    # 4,200,000 bytes: every record within its limit, the call over 4 MiB (4,194,304).
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"q" * 840_000}] * 5)
    code, message, status, rid = error_of(ei)
    assert (code, status, message) == ("InvalidArgumentException", 400, "Records size exceeds 4 MB limit")
    assert rid
    body = {"DeliveryStreamName": name, "Records": [{"Data": b64(b"q" * 840_000)}] * 5}
    msg = assert_aws_error(hydrant.raw("PutRecordBatch", body), 400, "InvalidArgumentException")
    assert msg == "Records size exceeds 4 MB limit"
    # Far over: refused from the body's size.
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"w" * 1_000_000}] * 5)
    code, message, status, _ = error_of(ei)
    assert (code, status, message) == ("InvalidArgumentException", 400, "Records size exceeds 4 MB limit")


def test_bad_base64(hydrant, stream, guard):
    name, _ = stream
    body = {"DeliveryStreamName": name, "Records": [{"Data": b64(b"valid one")}, {"Data": "%%% not base64 %%%"}]}
    assert_aws_error(hydrant.raw("PutRecordBatch", body), 400, "SerializationException")
    body = {"DeliveryStreamName": name, "Record": {"Data": "abc"}}  # wrong padding
    assert_aws_error(hydrant.raw("PutRecord", body), 400, "SerializationException")


def test_malformed_json(hydrant, stream, guard):
    name, _ = stream
    truncated = '{"DeliveryStreamName": "%s", "Records": [{"Data": "%s"}' % (name, b64(b"lost"))
    assert_aws_error(hydrant.raw("PutRecordBatch", truncated), 400, "SerializationException")
    assert_aws_error(hydrant.raw("PutRecord", "not json at all"), 400, "SerializationException")
    wrong_type = {"DeliveryStreamName": name, "Records": {"Data": b64(b"not a list")}}
    assert_aws_error(hydrant.raw("PutRecordBatch", wrong_type), 400, "SerializationException")
    assert_aws_error(hydrant.raw("CreateDeliveryStream", "{oops"), 400, "SerializationException")


def test_missing_members(hydrant, stream, guard):
    name, _ = stream
    msg = assert_aws_error(hydrant.raw("PutRecordBatch", {"DeliveryStreamName": name, "Records": [{}]}), 400, "ValidationException")
    assert "records.1.member.data" in msg
    msg = assert_aws_error(hydrant.raw("PutRecord", {"DeliveryStreamName": name}), 400, "ValidationException")
    assert "record" in msg
    msg = assert_aws_error(hydrant.raw("PutRecord", {"Record": {"Data": b64(b"x")}}), 400, "ValidationException")
    assert "deliveryStreamName" in msg


def test_unknown_operation(hydrant, stream, guard):
    name, _ = stream
    body = {"DeliveryStreamName": name, "Record": {"Data": b64(b"never")}}
    for target in ["PutRecordz", "Kinesis_20131202.PutRecord", "Firehose_20150804.", None]:
        msg = assert_aws_error(hydrant.raw(target, body), 400, "UnknownOperationException")
        assert msg


def test_bad_stream_names(hydrant, fh, stream, guard, receiver):
    for bad in ["n" * 65, "bad name!", "slash/name", "ünïcode"]:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            fh.put_record(DeliveryStreamName=bad, Record={"Data": b"never"})
        code, message, status, _ = error_of(ei)
        assert (code, status) == ("ValidationException", 400), bad
        assert "deliveryStreamName" in message
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            fh.create_delivery_stream(
                DeliveryStreamName=bad, HttpEndpointDestinationConfiguration=http_destination(receiver.url("/ok/never"))
            )
        assert error_of(ei)[:1] == ("ValidationException",)
    msg = assert_aws_error(
        hydrant.raw("PutRecordBatch", {"DeliveryStreamName": "", "Records": [{"Data": "cg=="}]}), 400, "ValidationException"
    )
    assert "deliveryStreamName" in msg
    # 64 characters is fine as a name (it just does not exist).
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fh.put_record(DeliveryStreamName="n" * 64, Record={"Data": b"never"})
    assert error_of(ei)[0] == "ResourceNotFoundException"
    names = fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    assert not any(n.startswith("nnnn") or " " in n or "/" in n for n in names)
    assert receiver.records("/ok/never") == []


def test_unknown_stream(hydrant, fh, stream, guard):
    for call in (
        lambda: fh.put_record(DeliveryStreamName="no-such-stream", Record={"Data": b"x"}),
        lambda: fh.put_record_batch(DeliveryStreamName="no-such-stream", Records=[{"Data": b"x"}]),
        lambda: fh.describe_delivery_stream(DeliveryStreamName="no-such-stream"),
        lambda: fh.delete_delivery_stream(DeliveryStreamName="no-such-stream"),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call()
        code, message, status, rid = error_of(ei)
        assert (code, status) == ("ResourceNotFoundException", 400)
        assert message == f"Firehose no-such-stream under account {ACCOUNT} not found."
        assert rid
