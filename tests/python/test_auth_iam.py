"""SigV4 authentication failures, and IAM authorization with the seed guide's policy for
the Fluent Bit log router, attached to a configured principal."""

import datetime
import json

import botocore.exceptions
import pytest
import requests

from conftest import ACCOUNT, FAST_DELIVERY, REGION, assert_aws_error, b64, error_of, http_destination, unique

# The seed guide's allow_kinesis_put_permission.json, verbatim (odd indentation included);
# the placeholders are filled in by `policy_text`.
SEED_POLICY = """{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "VisualEditor0",
            "Effect": "Allow",
            "Action": [
                "firehose:PutRecord",
                "firehose:PutRecordBatch"
            ],
            "Resource":
       "arn:aws:firehose:<REGION>:<ACCOUNTID>:deliverystream/<DELIVERY-STREAM-NAME>"
       }
]
}
"""

ROOT_KEY, ROOT_SECRET = "AKIAHYDRANTROOT00001", "rootSecretKey/abcdefghijklmnopqrstuvwxyz0"
FB_KEY, FB_SECRET = "AKIAFLUENTBIT0000001", "fluentBitSecret+abcdefghijklmnopqrstuvwx1"
FB_ARN = f"arn:aws:iam::{ACCOUNT}:user/fluent-bit"
ALLOWED = "fargate-logs"
OTHER = "other-stream"


def policy_text(stream: str) -> str:
    return (
        SEED_POLICY.replace("<REGION>", REGION)
        .replace("<ACCOUNTID>", ACCOUNT)
        .replace("<DELIVERY-STREAM-NAME>", stream)
    )


# --------------------------------------------------------------------------- SigV4


def signed_put(hydrant, **kw):
    body = {"DeliveryStreamName": "auth-none", "Record": {"Data": b64(b"x")}}
    return hydrant.raw("PutRecord", body, **kw)


def test_unsigned_request(hydrant):
    resp = signed_put(hydrant, sign=False)
    assert_aws_error(resp, 403, "MissingAuthenticationToken")
    resp = requests.post(hydrant.endpoint + "/", data=b"{}", headers={"X-Amz-Target": "Firehose_20150804.ListDeliveryStreams"})
    assert_aws_error(resp, 403, "MissingAuthenticationToken")


def test_wrong_secret(hydrant):
    resp = signed_put(hydrant, secret=hydrant.secret[:-1] + ("A" if hydrant.secret[-1] != "A" else "B"))
    assert_aws_error(resp, 403, "SignatureDoesNotMatch")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        hydrant.client(secret="not-the-secret").list_delivery_streams()
    assert error_of(ei)[0::2] == ("SignatureDoesNotMatch", 403)


def test_unknown_access_key(hydrant):
    resp = signed_put(hydrant, key="AKIAUNKNOWNKEY000000")
    assert_aws_error(resp, 403, "InvalidClientTokenId")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        hydrant.client(key="AKIAUNKNOWNKEY000000").list_delivery_streams()
    assert error_of(ei)[0::2] == ("InvalidClientTokenId", 403)


def test_request_signed_16_minutes_ago(hydrant):
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=16)
    resp = signed_put(hydrant, when=past)
    assert_aws_error(resp, 400, "RequestExpired")
    # Within the allowed skew the same kind of request is authenticated (and reaches
    # the stream lookup).
    recent = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=4)
    resp = signed_put(hydrant, when=recent)
    assert_aws_error(resp, 400, "ResourceNotFoundException")
    future = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=16)
    assert_aws_error(signed_put(hydrant, when=future), 400, "RequestExpired")


def test_malformed_authorization(hydrant):
    headers = {"X-Amz-Target": "Firehose_20150804.ListDeliveryStreams", "Content-Type": "application/x-amz-json-1.1"}
    for auth in ["AWS4-HMAC-SHA256 garbage", "Basic Zm9vOmJhcg=="]:
        resp = requests.post(hydrant.endpoint + "/", data=b"{}", headers={**headers, "Authorization": auth})
        assert_aws_error(resp, 400, "IncompleteSignature")


def test_tampered_body(hydrant):
    """A signature covers the body: changing a byte after signing is refused."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps({"DeliveryStreamName": "auth-none", "Record": {"Data": b64(b"x")}}).encode()
    req = AWSRequest(
        method="POST",
        url=hydrant.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Firehose_20150804.PutRecord"},
    )
    SigV4Auth(Credentials(hydrant.key, hydrant.secret), "firehose", REGION).add_auth(req)
    headers = dict(req.prepare().headers)
    resp = requests.post(hydrant.endpoint + "/", data=body.replace(b"auth-none", b"auth-nine"), headers=headers)
    assert_aws_error(resp, 403, "SignatureDoesNotMatch")


# --------------------------------------------------------------------------- IAM


@pytest.fixture(scope="module")
def iam(hydrants, tmp_path_factory):
    d = tmp_path_factory.mktemp("iam-config")
    (d / "allow_kinesis_put_permission.json").write_text(policy_text(ALLOWED))
    config = (
        FAST_DELIVERY
        + f"""
[[principals]]
name = "admin"
access_key_id = "{ROOT_KEY}"
secret_access_key = "{ROOT_SECRET}"
root = true

[[principals]]
name = "fluent-bit"
access_key_id = "{FB_KEY}"
secret_access_key = "{FB_SECRET}"
policies = ["{d / 'allow_kinesis_put_permission.json'}"]
"""
    )
    creds = d / "credentials"
    creds.write_text(
        f"[hydrant]\naws_access_key_id = {ROOT_KEY}\naws_secret_access_key = {ROOT_SECRET}\n\n"
        f"[fluent-bit]\naws_access_key_id = {FB_KEY}\naws_secret_access_key = {FB_SECRET}\n"
    )
    # Debug logging: the most verbose the service gets must still never print a secret.
    return hydrants("iam", config=config, credentials=creds, env={"HYDRANT_LOG": "debug"})


def test_policy_file_is_the_seed_verbatim():
    text = policy_text("x")
    assert '"Resource":\n       "arn:aws:firehose:us-east-1:123456789012:deliverystream/x"\n       }\n]\n}' in text
    assert json.loads(text)["Statement"][0]["Action"] == ["firehose:PutRecord", "firehose:PutRecordBatch"]


def test_fluent_bit_principal(iam, receiver):
    root = iam.client()
    fb = iam.client(key=FB_KEY, secret=FB_SECRET)
    paths = {n: f"/ok/iam-{n}-{unique('p')}" for n in (ALLOWED, OTHER)}
    for n, p in paths.items():
        root.create_delivery_stream(DeliveryStreamName=n, HttpEndpointDestinationConfiguration=http_destination(receiver.url(p)))
    assert root.list_delivery_streams()["DeliveryStreamNames"] == [ALLOWED, OTHER]

    # Allowed: both actions of the policy, on its stream, through boto3 and the aws CLI.
    r = fb.put_record(DeliveryStreamName=ALLOWED, Record={"Data": b"fb-one"})
    assert r["RecordId"]
    r = fb.put_record_batch(DeliveryStreamName=ALLOWED, Records=[{"Data": b"fb-two"}, {"Data": b"fb-three"}])
    assert r["FailedPutCount"] == 0
    cli = iam.aws("put-record", "--delivery-stream-name", ALLOWED, "--record", "Data=fb-cli", profile="fluent-bit")
    assert cli.rc == 0, cli.stderr
    assert receiver.wait_records(paths[ALLOWED], 4) == [b"fb-one", b"fb-two", b"fb-three", b"fb-cli"]

    # Denied: the same actions on another stream.
    other_arn = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{OTHER}"
    for op, call in [
        ("PutRecord", lambda: fb.put_record(DeliveryStreamName=OTHER, Record={"Data": b"no"})),
        ("PutRecordBatch", lambda: fb.put_record_batch(DeliveryStreamName=OTHER, Records=[{"Data": b"no"}])),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call()
        code, message, status, rid = error_of(ei)
        assert (code, status) == ("AccessDeniedException", 400)
        assert message == f"User: {FB_ARN} is not authorized to perform: firehose:{op} on resource: {other_arn}"
        assert rid
    cli = iam.aws("put-record", "--delivery-stream-name", OTHER, "--record", "Data=no", profile="fluent-bit")
    assert cli.rc != 0
    assert cli.error[0] == "AccessDeniedException"
    assert cli.error[2] == f"User: {FB_ARN} is not authorized to perform: firehose:PutRecord on resource: {other_arn}"

    # Denied: everything that is not a Put, even on its own stream.
    allowed_arn = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{ALLOWED}"
    new_arn = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/fb-made"
    for op, resource, call in [
        (
            "CreateDeliveryStream",
            new_arn,
            lambda: fb.create_delivery_stream(
                DeliveryStreamName="fb-made", HttpEndpointDestinationConfiguration=http_destination(receiver.url("/ok/fb-made"))
            ),
        ),
        ("DescribeDeliveryStream", allowed_arn, lambda: fb.describe_delivery_stream(DeliveryStreamName=ALLOWED)),
        ("DeleteDeliveryStream", allowed_arn, lambda: fb.delete_delivery_stream(DeliveryStreamName=ALLOWED)),
        ("ListDeliveryStreams", None, lambda: fb.list_delivery_streams()),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call()
        code, message, status, _ = error_of(ei)
        assert (code, status) == ("AccessDeniedException", 400), op
        prefix = f"User: {FB_ARN} is not authorized to perform: firehose:{op} on resource: "
        assert message.startswith(prefix), message
        if resource:
            assert message == prefix + resource
    cli = iam.aws("list-delivery-streams", profile="fluent-bit")
    assert cli.rc != 0 and cli.error[0] == "AccessDeniedException"

    # Nothing denied had an effect.
    assert root.list_delivery_streams()["DeliveryStreamNames"] == [ALLOWED, OTHER]
    r = root.put_record(DeliveryStreamName=OTHER, Record={"Data": b"root-marker"})
    assert receiver.wait_records(paths[OTHER], 1) == [b"root-marker"]
    assert receiver.records(paths[ALLOWED]) == [b"fb-one", b"fb-two", b"fb-three", b"fb-cli"]

    # Root can do everything; the wrong secret for a configured principal still fails.
    assert root.describe_delivery_stream(DeliveryStreamName=ALLOWED)["DeliveryStreamDescription"]["VersionId"] == "1"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.client(key=FB_KEY, secret=ROOT_SECRET).put_record(DeliveryStreamName=ALLOWED, Record={"Data": b"x"})
    assert error_of(ei)[0] == "SignatureDoesNotMatch"

    log = iam.stderr()
    assert "access denied" in log.lower() or "AccessDenied" in log, "denials are logged"
    for secret in (ROOT_SECRET, FB_SECRET):
        assert secret not in log
        assert secret not in iam.stdout_path.read_text()


def test_generated_secret_never_logged(hydrant):
    """The generated root secret is in the credentials file only (with mode 0600)."""
    assert hydrant.secret not in hydrant.stderr()
    assert hydrant.secret not in hydrant.stdout_path.read_text()
    assert (hydrant.credentials_file.stat().st_mode & 0o777) == 0o600
