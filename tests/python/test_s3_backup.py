"""The S3 backup of an HTTP endpoint stream, against a real S3 API server (moto_server)
and against the default local-directory buckets."""

import base64
import datetime
import json
import re
import shutil
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from conftest import FAST_DELIVERY, free_port, http_destination, unique, wait_for, wait_port

BUCKET = "hydrant-backup-bucket"
ERROR_FIELDS = {
    "attemptsMade",
    "arrivalTimestamp",
    "errorCode",
    "errorMessage",
    "attemptEndingTimestamp",
    "rawData",
    "subsequenceNumber",
    "dataId",
}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def key_pattern(prefix: str, stream: str) -> re.Pattern:
    return re.compile(
        rf"^{re.escape(prefix)}(\d{{4}})/(\d{{2}})/(\d{{2}})/(\d{{2}})/{re.escape(stream)}-1-"
        rf"(\d{{4}})-(\d{{2}})-(\d{{2}})-(\d{{2}})-(\d{{2}})-(\d{{2}})-{UUID}$"
    )


def check_key(key: str, prefix: str, stream: str, t0: float) -> None:
    m = key_pattern(prefix, stream).match(key)
    assert m, f"object key {key!r} does not follow {prefix}YYYY/MM/DD/HH/{stream}-1-YYYY-MM-DD-HH-MM-SS-<uuid>"
    g = m.groups()
    assert g[0:4] == g[4:8], "the directory hour and the name's timestamp are the same moment"
    at = datetime.datetime(*map(int, g[4:10]), tzinfo=datetime.timezone.utc).timestamp()
    assert t0 - 2 <= at <= time.time() + 1, "named after the (UTC) arrival of the oldest record"


def check_error_lines(body: bytes, records: list[bytes] | None, t0: float) -> list[dict]:
    lines = body.decode().splitlines()
    assert body.endswith(b"\n")
    docs = [json.loads(line) for line in lines]
    if records is not None:
        assert len(docs) == len(records), "one line per record"
        assert [base64.b64decode(d["rawData"]) for d in docs] == records
    for d in docs:
        assert set(d) == ERROR_FIELDS, d
        assert d["errorCode"] == "HttpEndpoint.DestinationException"
        assert "500" in d["errorMessage"]
        assert isinstance(d["attemptsMade"], int) and d["attemptsMade"] >= 2, "failed deliveries are retried"
        assert t0 * 1000 - 2000 <= d["arrivalTimestamp"] <= d["attemptEndingTimestamp"] <= time.time() * 1000 + 1000
        assert isinstance(d["subsequenceNumber"], int)
        assert isinstance(d["dataId"], str) and d["dataId"]
    assert len({d["dataId"] for d in docs}) == len(docs)
    return docs


def failing_stream_config(receiver, path, bucket=BUCKET, **extra):
    return http_destination(
        receiver.url(path),
        bucket=bucket,
        RetryOptions={"DurationInSeconds": 1},
        **extra,
    )


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    exe = shutil.which("moto_server")
    assert exe, "moto_server is not on PATH (pip install 'moto[server]' into .venv)"
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        wait_port(port, proc, what="moto_server")
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint, s3
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def s3_hydrant(hydrants, moto):
    endpoint, _ = moto
    config = (
        FAST_DELIVERY
        + f"""
[s3]
endpoint = "{endpoint}"
access_key_id = "test"
secret_access_key = "test"
region = "us-east-1"
path_style = true
"""
    )
    return hydrants("s3-moto", config=config)


def objects(s3, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
    return out


def test_failed_data_backup_to_s3(s3_hydrant, moto, receiver):
    _, s3 = moto
    fh = s3_hydrant.client()
    name = unique("s3-failed")
    path = f"/fail/{name}"
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        HttpEndpointDestinationConfiguration=failing_stream_config(
            receiver, path, S3Configuration={"BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 1}}
        ),
    )
    t0 = time.time()
    records = [b'{"msg":"first"}', b"second\n", bytes([0, 1, 2, 255])]
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in records])
    assert r["FailedPutCount"] == 0

    prefix = "http-endpoint-failed/"
    found = wait_for(lambda: {k: v for k, v in objects(s3, prefix).items() if f"/{name}-" in k}, timeout=15, what="the failed-data object")
    (key, body), = found.items()
    check_key(key, prefix, name, t0)
    docs = check_error_lines(body, records, t0)

    # Every attempt was a real request to the endpoint, all with the same request id.
    attempts = s3_hydrant.metric(
        "hydrant_firehose_delivery_attempts_total", stream=name, outcome="HttpEndpoint.DestinationException"
    )
    reqs = receiver.requests_for(path)
    assert len(reqs) == docs[0]["attemptsMade"] == attempts
    assert len({q["headers"]["x-amz-firehose-request-id"] for q in reqs}) == 1
    assert all(q["records"] == records for q in reqs)
    # Nothing else was written for this stream (FailedDataOnly: no all-data objects).
    everything = [k for k in objects(s3, "") if f"/{name}-" in k]
    assert everything == [key]


def test_all_data_backup_to_s3(s3_hydrant, moto, receiver):
    _, s3 = moto
    fh = s3_hydrant.client()
    name = unique("s3-all")
    path = f"/ok/{name}"
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        HttpEndpointDestinationConfiguration=http_destination(
            receiver.url(path),
            bucket=BUCKET,
            S3BackupMode="AllData",
            S3Configuration={"Prefix": "all/", "BufferingHints": {"IntervalInSeconds": 1, "SizeInMBs": 1}},
        ),
    )
    t0 = time.time()
    records = [b"alpha|", b"bravo|", b"charlie\n", b"delta"]
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": d} for d in records])
    assert r["FailedPutCount"] == 0
    assert receiver.wait_records(path, 4) == records, "delivery succeeds as well"

    found = wait_for(lambda: {k: v for k, v in objects(s3, "all/").items() if f"/{name}-" in k}, timeout=15, what="the all-data object")
    (key, body), = found.items()
    check_key(key, "all/", name, t0)
    assert body == b"".join(records), "raw records concatenated, no delimiter added"
    time.sleep(0.3)
    assert not [k for k in objects(s3, "") if f"/{name}-" in k and k != key], "no error objects for a healthy stream"


def test_failed_data_backup_to_local_directory(hydrants, receiver):
    h = hydrants("s3-local")  # no [s3] section: buckets are directories under the data dir
    fh = h.client()
    name = unique("local-failed")
    path = f"/fail/{name}"
    bucket = "local-backup-bucket"
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        HttpEndpointDestinationConfiguration=failing_stream_config(
            receiver, path, bucket=bucket, S3Configuration={"BufferingHints": {"IntervalInSeconds": 1, "SizeInMBs": 1}}
        ),
    )
    t0 = time.time()
    r = fh.put_record(DeliveryStreamName=name, Record={"Data": b"local one"})
    assert r["RecordId"]
    r = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"local two"}])
    assert r["FailedPutCount"] == 0

    root = h.data_dir / "s3" / bucket

    def backed_up():
        files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
        lines = sum(p.read_bytes().count(b"\n") for p in files)
        return files if lines >= 2 else None

    files = wait_for(backed_up, timeout=15, what="local backup files")
    records = []
    for f in files:
        check_key(f.relative_to(root).as_posix(), "http-endpoint-failed/", name, t0)
        docs = check_error_lines(f.read_bytes(), None, t0)
        records += [base64.b64decode(d["rawData"]) for d in docs]
    assert sorted(records) == [b"local one", b"local two"]


def test_extended_s3_destination(s3_hydrant, moto):
    """The other destination: records written straight to the bucket, raw and concatenated."""
    _, s3 = moto
    fh = s3_hydrant.client()
    name = unique("ext-s3")
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": "ext/",
            "BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 1},
        },
    )
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    ext = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["CompressionFormat"] == "UNCOMPRESSED" and ext["Prefix"] == "ext/"
    t0 = time.time()
    records = [b'{"n":1}\n', b'{"n":2}\n']
    assert fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])["FailedPutCount"] == 0
    found = wait_for(lambda: {k: v for k, v in objects(s3, "ext/").items() if f"/{name}-" in k}, timeout=15, what="the object")
    (key, body), = found.items()
    check_key(key, "ext/", name, t0)
    assert body == b"".join(records)
