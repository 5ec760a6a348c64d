"""The real aws CLI (v1) against hydrant: the control plane and the data path end to end."""

import json
import time

from conftest import ACCOUNT, REGION, http_destination, unique

ACCESS_KEY = "dd-api-key-0123456789abcdef"


def create(h, name, url, **extra):
    cfg = http_destination(url, **extra)
    r = h.aws(
        "create-delivery-stream",
        "--delivery-stream-name",
        name,
        "--delivery-stream-type",
        "DirectPut",
        "--http-endpoint-destination-configuration",
        json.dumps(cfg),
    )
    assert r.rc == 0, r.stderr
    return r.json


def describe(h, name):
    r = h.aws("describe-delivery-stream", "--delivery-stream-name", name)
    assert r.rc == 0, r.stderr
    return r.json["DeliveryStreamDescription"], r.stdout


def test_create_put_describe_and_delivery(hydrant, receiver):
    name = unique("cli")
    path = f"/ok/{name}"
    out = create(
        hydrant,
        name,
        receiver.url(path),
        EndpointConfiguration={"Url": receiver.url(path), "Name": "Datadog", "AccessKey": ACCESS_KEY},
        RequestConfiguration={"CommonAttributes": [{"AttributeName": "env", "AttributeValue": "test"}]},
    )
    arn = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}"
    assert out == {"DeliveryStreamARN": arn}

    again = hydrant.aws(
        "create-delivery-stream",
        "--delivery-stream-name",
        name,
        "--http-endpoint-destination-configuration",
        json.dumps(http_destination(receiver.url(path))),
    )
    assert again.rc != 0
    assert again.error[0] == "ResourceInUseException"

    # aws CLI v1 sends the text given to --record Data as the blob's bytes (it base64-
    # encodes them on the wire); the receiver must get exactly those bytes back.
    r = hydrant.aws("put-record", "--delivery-stream-name", name, "--record", "Data=hello from the cli")
    assert r.rc == 0, r.stderr
    assert set(r.json) == {"RecordId", "Encrypted"} and r.json["Encrypted"] is False
    assert r.json["RecordId"]

    batch = [{"Data": '{"msg":"one"}\n'}, {"Data": "two, with spaces and ünïcode"}, {"Data": "three"}]
    r = hydrant.aws("put-record-batch", "--delivery-stream-name", name, "--records", json.dumps(batch))
    assert r.rc == 0, r.stderr
    out = r.json
    assert out["FailedPutCount"] == 0
    assert len(out["RequestResponses"]) == 3
    ids = [x["RecordId"] for x in out["RequestResponses"]]
    assert len(set(ids)) == 3

    expected = [b"hello from the cli"] + [b["Data"].encode() for b in batch]
    got = receiver.wait_records(path, 4)
    assert got == expected

    # The delivery request follows the HTTP endpoint spec.
    req = receiver.requests_for(path)[0]
    hdr = req["headers"]
    assert hdr["x-amz-firehose-protocol-version"] == "1.0"
    assert hdr["x-amz-firehose-request-id"] == req["body"]["requestId"]
    assert hdr["x-amz-firehose-source-arn"] == arn
    assert hdr["x-amz-firehose-access-key"] == ACCESS_KEY
    assert json.loads(hdr["x-amz-firehose-common-attributes"]) == {"commonAttributes": {"env": "test"}}
    assert hdr["content-type"].startswith("application/json")
    assert "content-encoding" not in hdr
    assert abs(req["body"]["timestamp"] - req["received_ms"]) < 60_000, "timestamp must be epoch milliseconds"

    desc, raw = describe(hydrant, name)
    assert "AccessKey" not in raw and ACCESS_KEY not in raw
    assert desc["DeliveryStreamName"] == name
    assert desc["DeliveryStreamARN"] == arn
    assert desc["DeliveryStreamStatus"] == "ACTIVE"
    assert desc["DeliveryStreamType"] == "DirectPut"
    assert desc["VersionId"] == "1"
    assert desc["DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"
    assert abs(desc["CreateTimestamp"] - time.time()) < 120
    assert desc["HasMoreDestinations"] is False
    (dest,) = desc["Destinations"]
    assert dest["DestinationId"] == "destinationId-000000000001"
    d = dest["HttpEndpointDestinationDescription"]
    assert d["EndpointConfiguration"] == {"Url": receiver.url(path), "Name": "Datadog"}
    assert d["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 0}
    assert d["RequestConfiguration"]["ContentEncoding"] == "NONE"
    assert d["CloudWatchLoggingOptions"] == {"Enabled": False}
    assert d["S3BackupMode"] == "FailedDataOnly"
    s3 = d["S3DestinationDescription"]
    assert s3["BucketARN"] == "arn:aws:s3:::hydrant-backup"
    assert s3["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}
    assert s3["CompressionFormat"] == "UNCOMPRESSED"
    assert s3["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}


def test_list_delivery_streams_paging(hydrants, receiver):
    h = hydrants("cli-list")
    names = ["charlie", "alpha", "echo", "bravo", "delta"] + [f"zulu-{i:02}" for i in range(7, 0, -1)]
    fh = h.client()  # setup through boto3 (faster); the listing itself goes through the CLI
    for n in names:
        fh.create_delivery_stream(
            DeliveryStreamName=n, HttpEndpointDestinationConfiguration=http_destination(receiver.url(f"/ok/list-{n}"))
        )
    ordered = sorted(names)
    assert ordered[:5] == ["alpha", "bravo", "charlie", "delta", "echo"]

    r = h.aws("list-delivery-streams")  # default Limit: 10
    assert r.rc == 0, r.stderr
    assert r.json == {"DeliveryStreamNames": ordered[:10], "HasMoreDeliveryStreams": True}

    r = h.aws("list-delivery-streams", "--limit", "100")
    assert r.json == {"DeliveryStreamNames": ordered, "HasMoreDeliveryStreams": False}

    r = h.aws("list-delivery-streams", "--limit", "2")
    assert r.json == {"DeliveryStreamNames": ["alpha", "bravo"], "HasMoreDeliveryStreams": True}

    r = h.aws("list-delivery-streams", "--limit", "2", "--exclusive-start-delivery-stream-name", "bravo")
    assert r.json == {"DeliveryStreamNames": ["charlie", "delta"], "HasMoreDeliveryStreams": True}

    r = h.aws("list-delivery-streams", "--limit", "2", "--exclusive-start-delivery-stream-name", "zulu-05")
    assert r.json == {"DeliveryStreamNames": ["zulu-06", "zulu-07"], "HasMoreDeliveryStreams": False}

    # A start name that is not a stream still pages from where it would sort.
    r = h.aws("list-delivery-streams", "--limit", "3", "--exclusive-start-delivery-stream-name", "d")
    assert r.json == {"DeliveryStreamNames": ["delta", "echo", "zulu-01"], "HasMoreDeliveryStreams": True}

    r = h.aws("list-delivery-streams", "--delivery-stream-type", "DirectPut", "--limit", "12")
    assert r.json == {"DeliveryStreamNames": ordered, "HasMoreDeliveryStreams": False}

    r = h.aws("list-delivery-streams", "--limit", "10001")  # botocore checks only the minimum
    assert r.rc != 0 and r.error[0] == "ValidationException"


def test_update_destination(hydrant, receiver):
    name = unique("cli-upd")
    old, new = f"/ok/{name}/old", f"/ok/{name}/new"
    create(
        hydrant,
        name,
        receiver.url(old),
        EndpointConfiguration={"Url": receiver.url(old), "Name": "first", "AccessKey": ACCESS_KEY},
        RetryOptions={"DurationInSeconds": 60},
    )
    before, _ = describe(hydrant, name)
    assert before["VersionId"] == "1"

    stale = hydrant.aws(
        "update-destination",
        "--delivery-stream-name",
        name,
        "--current-delivery-stream-version-id",
        "7",
        "--destination-id",
        "destinationId-000000000001",
        "--http-endpoint-destination-update",
        json.dumps({"EndpointConfiguration": {"Url": receiver.url(new)}}),
    )
    assert stale.rc != 0
    assert stale.error[0] == "ConcurrentModificationException"
    assert describe(hydrant, name)[0]["VersionId"] == "1"

    time.sleep(0.01)
    ok = hydrant.aws(
        "update-destination",
        "--delivery-stream-name",
        name,
        "--current-delivery-stream-version-id",
        "1",
        "--destination-id",
        "destinationId-000000000001",
        "--http-endpoint-destination-update",
        json.dumps({"EndpointConfiguration": {"Url": receiver.url(new)}, "BufferingHints": {"SizeInMBs": 2}}),
    )
    assert ok.rc == 0, ok.stderr
    assert ok.json == {}

    after, raw = describe(hydrant, name)
    assert after["VersionId"] == "2"
    assert after["LastUpdateTimestamp"] >= after["CreateTimestamp"]
    assert after["LastUpdateTimestamp"] > before["LastUpdateTimestamp"]
    d = after["Destinations"][0]["HttpEndpointDestinationDescription"]
    # Merged: the new Url and size, everything else as it was.
    assert d["EndpointConfiguration"] == {"Url": receiver.url(new), "Name": "first"}
    assert d["BufferingHints"] == {"SizeInMBs": 2, "IntervalInSeconds": 0}
    assert d["RetryOptions"] == {"DurationInSeconds": 60}
    assert d["S3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::hydrant-backup"
    assert ACCESS_KEY not in raw and "AccessKey" not in raw

    r = hydrant.aws("put-record", "--delivery-stream-name", name, "--record", "Data=after-update")
    assert r.rc == 0, r.stderr
    assert receiver.wait_records(new, 1) == [b"after-update"]
    assert receiver.records(old) == []
    # The access key was kept by the merge.
    assert receiver.requests_for(new)[0]["headers"]["x-amz-firehose-access-key"] == ACCESS_KEY

    # The old version id no longer works; the new one does and bumps again.
    r = hydrant.aws(
        "update-destination",
        "--delivery-stream-name",
        name,
        "--current-delivery-stream-version-id",
        "1",
        "--destination-id",
        "destinationId-000000000001",
        "--http-endpoint-destination-update",
        json.dumps({"RetryOptions": {"DurationInSeconds": 30}}),
    )
    assert r.rc != 0 and r.error[0] == "ConcurrentModificationException"
    r = hydrant.aws(
        "update-destination",
        "--delivery-stream-name",
        name,
        "--current-delivery-stream-version-id",
        "2",
        "--destination-id",
        "destinationId-000000000001",
        "--http-endpoint-destination-update",
        json.dumps({"RetryOptions": {"DurationInSeconds": 30}}),
    )
    assert r.rc == 0, r.stderr
    third, _ = describe(hydrant, name)
    assert third["VersionId"] == "3"
    d = third["Destinations"][0]["HttpEndpointDestinationDescription"]
    assert d["RetryOptions"] == {"DurationInSeconds": 30}
    assert d["EndpointConfiguration"]["Url"] == receiver.url(new)


def test_tags(hydrant, receiver):
    name = unique("cli-tags")
    create(hydrant, name, receiver.url(f"/ok/{name}"))
    tags = [{"Key": k, "Value": f"v-{k}"} for k in ["team", "env", "app", "owner", "cost"]]
    r = hydrant.aws("tag-delivery-stream", "--delivery-stream-name", name, "--tags", json.dumps(tags))
    assert r.rc == 0, r.stderr

    def list_tags(*extra):
        r = hydrant.aws("list-tags-for-delivery-stream", "--delivery-stream-name", name, *extra)
        assert r.rc == 0, r.stderr
        return r.json

    all_sorted = sorted(tags, key=lambda t: t["Key"])
    assert list_tags() == {"Tags": all_sorted, "HasMoreTags": False}
    assert list_tags("--limit", "2") == {"Tags": all_sorted[:2], "HasMoreTags": True}
    page2 = list_tags("--limit", "2", "--exclusive-start-tag-key", all_sorted[1]["Key"])
    assert page2 == {"Tags": all_sorted[2:4], "HasMoreTags": True}
    page3 = list_tags("--limit", "2", "--exclusive-start-tag-key", all_sorted[3]["Key"])
    assert page3 == {"Tags": all_sorted[4:], "HasMoreTags": False}

    # Tagging an existing key replaces its value.
    r = hydrant.aws("tag-delivery-stream", "--delivery-stream-name", name, "--tags", "Key=env,Value=prod")
    assert r.rc == 0, r.stderr
    # Untag ignores keys that are not there.
    r = hydrant.aws("untag-delivery-stream", "--delivery-stream-name", name, "--tag-keys", "team", "cost", "nope")
    assert r.rc == 0, r.stderr
    assert list_tags() == {
        "Tags": [{"Key": "app", "Value": "v-app"}, {"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "v-owner"}],
        "HasMoreTags": False,
    }

    r = hydrant.aws("tag-delivery-stream", "--delivery-stream-name", name, "--tags", "Key=aws:reserved,Value=x")
    assert r.rc != 0 and r.error[0] == "ValidationException"


def test_encryption_status(hydrant, receiver):
    name = unique("cli-enc")
    create(hydrant, name, receiver.url(f"/ok/{name}"))
    assert describe(hydrant, name)[0]["DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"

    r = hydrant.aws(
        "start-delivery-stream-encryption",
        "--delivery-stream-name",
        name,
        "--delivery-stream-encryption-configuration-input",
        "KeyType=AWS_OWNED_CMK",
    )
    assert r.rc == 0, r.stderr
    enc = describe(hydrant, name)[0]["DeliveryStreamEncryptionConfiguration"]
    assert enc["Status"] == "ENABLED"
    assert enc["KeyType"] == "AWS_OWNED_CMK"
    r = hydrant.aws("put-record", "--delivery-stream-name", name, "--record", "Data=secret")
    assert r.rc == 0 and r.json["Encrypted"] is True

    r = hydrant.aws("stop-delivery-stream-encryption", "--delivery-stream-name", name)
    assert r.rc == 0, r.stderr
    assert describe(hydrant, name)[0]["DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"
    r = hydrant.aws("put-record", "--delivery-stream-name", name, "--record", "Data=plain")
    assert r.rc == 0 and r.json["Encrypted"] is False
    assert receiver.wait_records(f"/ok/{name}", 2) == [b"secret", b"plain"]


def test_delete_delivery_stream(hydrant, receiver):
    name = unique("cli-del")
    create(hydrant, name, receiver.url(f"/ok/{name}"))
    listed = hydrant.aws("list-delivery-streams", "--limit", "10000")
    assert name in listed.json["DeliveryStreamNames"]

    r = hydrant.aws("delete-delivery-stream", "--delivery-stream-name", name)
    assert r.rc == 0, r.stderr
    assert r.json == {}

    expected = f"Firehose {name} under account {ACCOUNT} not found."
    r = hydrant.aws("describe-delivery-stream", "--delivery-stream-name", name)
    assert r.rc != 0
    assert r.error == ("ResourceNotFoundException", "DescribeDeliveryStream", expected)
    r = hydrant.aws("put-record", "--delivery-stream-name", name, "--record", "Data=gone")
    assert r.error == ("ResourceNotFoundException", "PutRecord", expected)
    r = hydrant.aws("delete-delivery-stream", "--delivery-stream-name", name)
    assert r.error == ("ResourceNotFoundException", "DeleteDeliveryStream", expected)
    listed = hydrant.aws("list-delivery-streams", "--limit", "10000")
    assert name not in listed.json["DeliveryStreamNames"]
    assert receiver.records(f"/ok/{name}") == []


def test_the_seed_examples_delivery_stream_json(hydrant, receiver, tmp_path):
    """`examples/fargate-datadog/delivery-stream.json` as the README uses it, with
    `--cli-input-json`: only the name and the Url changed for this test's receiver."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "fargate-datadog" / "delivery-stream.json"
    cfg = json.loads(example.read_text())
    name = unique("seed")
    path = f"/api/v2/logs?dd-protocol=aws-kinesis-firehose&t={name}"
    cfg["DeliveryStreamName"] = name
    cfg["HttpEndpointDestinationConfiguration"]["EndpointConfiguration"]["Url"] = receiver.url(path)
    cfg["HttpEndpointDestinationConfiguration"]["BufferingHints"]["IntervalInSeconds"] = 0
    input_file = tmp_path / "delivery-stream.json"
    input_file.write_text(json.dumps(cfg))
    r = hydrant.aws("create-delivery-stream", "--cli-input-json", f"file://{input_file}")
    assert r.rc == 0, r.stderr
    r = hydrant.aws("put-record", "--delivery-stream-name", name, "--record", "Data=hello from the aws CLI")
    assert r.rc == 0, r.stderr
    assert receiver.wait_records(path, 1) == [b"hello from the aws CLI"]
    desc, raw = describe(hydrant, name)
    assert "<DATADOG-API-KEY>" not in raw
    d = desc["Destinations"][0]["HttpEndpointDestinationDescription"]
    assert d["RequestConfiguration"]["ContentEncoding"] == "GZIP"
    assert d["S3BackupMode"] == "FailedDataOnly"
    assert d["S3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::fargate-logs-backup"
