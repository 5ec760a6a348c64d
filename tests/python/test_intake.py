"""The logs intake against Datadog's own Python client (`datadog-api-client`, from PyPI)
and, for the Firehose leg, exactly what Kinesis Data Firehose posts.

- LogsPipelinesApi: the seed guide's "EKS Fargate Log Pipeline" created, read, listed,
  replaced, reordered and deleted; Datadog's error bodies parsed by the client's models.
- LogsApi (v2): submit_log (plain, gzip, deflate), list_logs, list_logs_get, the client's
  cursor pagination helpers, aggregate_logs.
- The seed end to end: the pipeline created with the client, Fluent Bit-shaped records of
  the sample nginx app posted the way Firehose posts them, found with the client by
  `source:aws` and `kube_namespace:fargate-namespace`, tagged as the guide says.
- A restart (SIGTERM) on the same data directory keeps the pipeline, the logs, the
  Firehose request ids, and the tagging of new logs.

Every answer the client deserializes is also checked for parts its models could not
parse: the client does not raise on those, it marks them `_unparsed` and goes on, so a
response that breaks Datadog's schema would otherwise pass unnoticed.

Nothing is mocked: every test starts a `hydrant intake` from $HYDRANT_BIN on loopback.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import time
import uuid

import pytest
import requests
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException, ForbiddenException, NotFoundException, UnauthorizedException
from datadog_api_client.model_utils import ModelComposed, ModelSimple, OpenApiModel, UnparsedObject
from datadog_api_client.v1.api.logs_pipelines_api import LogsPipelinesApi
from datadog_api_client.v1.model.api_error_response import APIErrorResponse as V1APIErrorResponse
from datadog_api_client.v1.model.logs_api_error_response import LogsAPIErrorResponse
from datadog_api_client.v1.model.logs_arithmetic_processor import LogsArithmeticProcessor
from datadog_api_client.v1.model.logs_arithmetic_processor_type import LogsArithmeticProcessorType
from datadog_api_client.v1.model.logs_attribute_remapper import LogsAttributeRemapper
from datadog_api_client.v1.model.logs_attribute_remapper_type import LogsAttributeRemapperType
from datadog_api_client.v1.model.logs_category_processor import LogsCategoryProcessor
from datadog_api_client.v1.model.logs_category_processor_category import LogsCategoryProcessorCategory
from datadog_api_client.v1.model.logs_category_processor_type import LogsCategoryProcessorType
from datadog_api_client.v1.model.logs_filter import LogsFilter
from datadog_api_client.v1.model.logs_grok_parser import LogsGrokParser
from datadog_api_client.v1.model.logs_grok_parser_rules import LogsGrokParserRules
from datadog_api_client.v1.model.logs_grok_parser_type import LogsGrokParserType
from datadog_api_client.v1.model.logs_lookup_processor import LogsLookupProcessor
from datadog_api_client.v1.model.logs_lookup_processor_type import LogsLookupProcessorType
from datadog_api_client.v1.model.logs_pipeline import LogsPipeline
from datadog_api_client.v1.model.logs_pipeline_processor import LogsPipelineProcessor
from datadog_api_client.v1.model.logs_pipeline_processor_type import LogsPipelineProcessorType
from datadog_api_client.v1.model.logs_pipelines_order import LogsPipelinesOrder
from datadog_api_client.v1.model.logs_status_remapper import LogsStatusRemapper
from datadog_api_client.v1.model.logs_status_remapper_type import LogsStatusRemapperType
from datadog_api_client.v1.model.logs_string_builder_processor import LogsStringBuilderProcessor
from datadog_api_client.v1.model.logs_string_builder_processor_type import LogsStringBuilderProcessorType
from datadog_api_client.v1.model.logs_url_parser import LogsURLParser
from datadog_api_client.v1.model.logs_url_parser_type import LogsURLParserType
from datadog_api_client.v2.api.logs_api import LogsApi
from datadog_api_client.v2.model.api_error_response import APIErrorResponse as V2APIErrorResponse
from datadog_api_client.v2.model.content_encoding import ContentEncoding
from datadog_api_client.v2.model.http_log import HTTPLog
from datadog_api_client.v2.model.http_log_errors import HTTPLogErrors
from datadog_api_client.v2.model.http_log_item import HTTPLogItem
from datadog_api_client.v2.model.logs_aggregate_bucket_value_timeseries import LogsAggregateBucketValueTimeseries
from datadog_api_client.v2.model.logs_aggregate_request import LogsAggregateRequest
from datadog_api_client.v2.model.logs_aggregation_function import LogsAggregationFunction
from datadog_api_client.v2.model.logs_compute import LogsCompute
from datadog_api_client.v2.model.logs_compute_type import LogsComputeType
from datadog_api_client.v2.model.logs_group_by import LogsGroupBy
from datadog_api_client.v2.model.logs_list_request import LogsListRequest
from datadog_api_client.v2.model.logs_list_request_page import LogsListRequestPage
from datadog_api_client.v2.model.logs_query_filter import LogsQueryFilter
from datadog_api_client.v2.model.logs_sort import LogsSort

from conftest import Intake, wait_for

# --------------------------------------------------------------------------- the client


def client(intake: Intake, api_key: str | None = None, app_key: str | None = None) -> ApiClient:
    """Datadog's client pointed at the intake, with the intake's keys unless told ("": none)."""
    c = Configuration(host=intake.endpoint)
    if api_key != "":
        c.api_key["apiKeyAuth"] = intake.API_KEY if api_key is None else api_key
    if app_key != "":
        c.api_key["appKeyAuth"] = intake.APP_KEY if app_key is None else app_key
    return ApiClient(c)


def unparsed_paths(obj, path: str = "$") -> list[str]:
    """Where, in a deserialized answer, the client's models gave up (`_unparsed`)."""
    if isinstance(obj, UnparsedObject):
        return [path]
    out = []
    if isinstance(obj, OpenApiModel):
        if obj._unparsed:
            out.append(path)
        if isinstance(obj, ModelComposed):
            for inst in obj._composed_instances:
                out += unparsed_paths(inst, f"{path}<{type(inst).__name__}>")
        if isinstance(obj, ModelSimple):
            out += unparsed_paths(obj.value, f"{path}.value")
        for k, v in obj.__dict__.get("_data_store", {}).items():
            if not (isinstance(obj, ModelSimple) and k == "value"):
                out += unparsed_paths(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += unparsed_paths(v, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += unparsed_paths(v, f"{path}.{k}")
    return out


def parsed(obj):
    """`obj`, after checking that the client's models parsed every part of it."""
    bad = unparsed_paths(obj)
    assert not bad, f"the client could not parse {bad} of {obj}"
    return obj


def error_as(api: ApiClient, exc: ApiException, model):
    """The body of an error answer, deserialized (strictly) into the client's error model."""
    assert isinstance(exc.body, dict), f"error body is not JSON: {exc.body!r}"
    return parsed(api.deserialize(json.dumps(exc.body), (model,), True))


# --------------------------------------------------------------------------- logs


def window(minutes: int = 15) -> LogsQueryFilter:
    return LogsQueryFilter(_from=f"now-{minutes}m", to="now")


def search(api: ApiClient, query: str, limit: int = 1000, sort=LogsSort.TIMESTAMP_ASCENDING) -> list:
    """Every log matching `query` in the last 15 minutes, through list_logs (POST)."""
    f = window()
    f.query = query
    resp = parsed(LogsApi(api).list_logs(body=LogsListRequest(filter=f, sort=sort, page=LogsListRequestPage(limit=limit))))
    return list(resp.data)


def wait_logs(api: ApiClient, query: str, n: int, timeout: float = 10.0) -> list:
    """Polls until `query` finds at least `n` logs, then checks it finds exactly `n`."""

    def enough():
        got = search(api, query)
        return got if len(got) >= n else None

    found = wait_for(enough, timeout=timeout, what=f"{n} logs for {query!r}")
    assert len(found) == n, f"{len(found)} logs for {query!r}, want {n}"
    return found


def tags_of(log) -> list[str]:
    return list(log.attributes.tags)


def attrs_of(log) -> dict:
    return log.attributes.attributes


def aggregate(api: ApiClient, query: str, compute: list, group_by: list | None = None):
    f = window()
    f.query = query
    body = LogsAggregateRequest(filter=f, compute=compute)
    if group_by:
        body.group_by = group_by
    return parsed(LogsApi(api).aggregate_logs(body=body))


def bucket_values(resp) -> dict:
    """{(by values...): {compute name: value}} of an aggregate answer."""
    out = {}
    for b in resp.data.buckets:
        key = tuple(str(v) for v in b.by.values())
        out[key] = {k: v for k, v in b.computes.items()}
    return out


# --------------------------------------------------------------------------- the seed


SEED_FILTER = "service:aws source:aws"
SEED_REMAPS = [
    ("kubernetes.container_name", "kube_container_name"),
    ("kubernetes.namespace_name", "kube_namespace"),
    ("kubernetes.pod_name", "pod_name"),
    ("kubernetes.docker_id", "container_id"),
]


def seed_pipeline() -> LogsPipeline:
    """The seed guide's pipeline: its name, its filter, four attribute remappers to tags.
    Source preservation and conflicts are left to Datadog's defaults, as in the guide."""
    return LogsPipeline(
        name="EKS Fargate Log Pipeline",
        is_enabled=True,
        filter=LogsFilter(query=SEED_FILTER),
        processors=[
            LogsAttributeRemapper(
                type=LogsAttributeRemapperType.ATTRIBUTE_REMAPPER,
                name=f"Remap {source} to {target}",
                is_enabled=True,
                sources=[source],
                source_type="attribute",
                target=target,
                target_type="tag",
            )
            for source, target in SEED_REMAPS
        ],
    )


def assert_is_seed_pipeline(p) -> None:
    parsed(p)
    assert isinstance(p, LogsPipeline)
    assert isinstance(p.id, str) and p.id
    assert p.type == "pipeline"
    assert p.name == "EKS Fargate Log Pipeline"
    assert p.is_enabled is True
    assert p.is_read_only is False
    assert p.filter.query == SEED_FILTER
    assert len(p.processors) == 4
    for proc, (source, target) in zip(p.processors, SEED_REMAPS):
        proc = proc.get_oneof_instance() if isinstance(proc, ModelComposed) else proc
        assert isinstance(proc, LogsAttributeRemapper), type(proc)
        assert str(proc.type) == "attribute-remapper"
        assert proc.is_enabled is True
        assert list(proc.sources) == [source]
        assert proc.source_type == "attribute"
        assert proc.target == target
        assert proc.target_type == "tag"
        # Datadog's defaults for what the guide leaves unset.
        assert proc.preserve_source is False
        assert proc.override_on_conflict is False


# The sample app's pods (`kubectl get pods -n fargate-namespace`) and what
# `kubectl logs -l app=nginx -n fargate-namespace` shows, with the stream each line is on.
PODS = {
    "sample-app-6c8b449b8f-kq2qz": "4f3c0b9e2d1a8c7b6e5d4c3b2a19081726354453627180a9b8c7d6e5f4a3b2c1",
    "sample-app-6c8b449b8f-nn2w7": "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d",
    "sample-app-6c8b449b8f-wzsjj": "0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e9f",
}
NGINX_LINES = [
    ("stdout", "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh"),
    ("stdout", "/docker-entrypoint.sh: Configuration complete; ready for start up"),
    ("stderr", '2023/01/27 16:53:42 [notice] 1#1: using the "epoll" event method'),
    ("stderr", "2023/01/27 16:53:42 [notice] 1#1: nginx/1.23.3"),
    ("stderr", "2023/01/27 16:53:42 [notice] 1#1: built by gcc 10.2.1 20210110 (Debian 10.2.1-6)"),
    ("stderr", "2023/01/27 16:53:42 [notice] 1#1: OS: Linux 4.14.294-220.533.amzn2.x86_64"),
    ("stderr", "2023/01/27 16:53:42 [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1024:65535"),
    ("stderr", "2023/01/27 16:53:42 [notice] 1#1: start worker processes"),
]
SOURCE_ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/eks-fargate-logs"
COMMON_ATTRIBUTES = {"env": "dev", "cluster": "fargate-cluster"}


def fluent_bit_record(pod: str, stream: str, line: str) -> bytes:
    """One record as Fluent Bit's kinesis_firehose output sends it from EKS Fargate: the
    CRI line's fields, the kubernetes filter's metadata, newline-terminated JSON."""
    now = datetime.datetime.now(datetime.timezone.utc)
    event = {
        "time": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
        "stream": stream,
        "logtag": "F",
        "log": line,
        "kubernetes": {
            "pod_name": pod,
            "namespace_name": "fargate-namespace",
            "pod_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, pod)),
            "labels": {"app": "nginx", "pod-template-hash": "6c8b449b8f"},
            "annotations": {"CapacityProvisioned": "0.25vCPU 0.5GB", "Logging": "LoggingEnabled"},
            "host": "fargate-ip-192-168-104-12.ec2.internal",
            "container_name": "nginx",
            "docker_id": PODS[pod],
            "container_hash": "docker.io/library/nginx@sha256:" + "ab" * 32,
            "container_image": "nginx:latest",
        },
    }
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def firehose_post(
    intake: Intake, records: list[bytes], request_id: str, path: str = "/v1/input", key: str | None = None
) -> requests.Response:
    """Exactly what Firehose's HTTP endpoint delivery posts: its headers (the access key is
    the API key), a gzip'd JSON body with a millisecond timestamp, base64 records."""
    body = {
        "requestId": request_id,
        "timestamp": int(time.time() * 1000),
        "records": [{"data": base64.b64encode(r).decode()} for r in records],
    }
    headers = {
        "User-Agent": "Amazon Kinesis Data Firehose Agent/1.0",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "X-Amz-Firehose-Protocol-Version": "1.0",
        "X-Amz-Firehose-Request-Id": request_id,
        "X-Amz-Firehose-Source-Arn": SOURCE_ARN,
        "X-Amz-Firehose-Access-Key": intake.API_KEY if key is None else key,
        "X-Amz-Firehose-Common-Attributes": json.dumps({"commonAttributes": COMMON_ATTRIBUTES}),
    }
    return requests.post(intake.endpoint + path, data=gzip.compress(json.dumps(body).encode()), headers=headers, timeout=30)


def assert_firehose_ok(resp: requests.Response, request_id: str) -> None:
    """The HTTP endpoint delivery spec's answer: 200, application/json, the request id
    echoed, a numeric millisecond timestamp, nothing else."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].split(";")[0].strip() == "application/json", resp.headers
    assert "Content-Encoding" not in resp.headers
    body = resp.json()
    assert set(body) == {"requestId", "timestamp"}, body
    assert body["requestId"] == request_id
    ts = body["timestamp"]
    assert isinstance(ts, int) and not isinstance(ts, bool), body
    assert abs(ts - time.time() * 1000) < 10_000, body


def seed_records(pods: list[str]) -> list[bytes]:
    return [fluent_bit_record(pod, stream, line) for pod in pods for stream, line in NGINX_LINES]


def assert_seed_tagged(logs: list) -> None:
    """Each log carries the guide's four tags (with its own pod's values), the common
    attributes as tags, the Firehose stream's ARN, source and service `aws`."""
    lines = {line for _, line in NGINX_LINES}
    for log in logs:
        a = log.attributes
        tags = tags_of(log)
        attrs = attrs_of(log)
        assert a.message in lines, a.message
        assert a.service == "aws"
        assert attrs["source"] == "aws", attrs
        pods = [t.split(":", 1)[1] for t in tags if t.startswith("pod_name:")]
        assert len(pods) == 1 and pods[0] in PODS, tags
        for want in (
            "kube_container_name:nginx",
            "kube_namespace:fargate-namespace",
            f"pod_name:{pods[0]}",
            f"container_id:{PODS[pods[0]]}",
            "env:dev",
            "cluster:fargate-cluster",
        ):
            assert want in tags, f"{want} not in {tags}"
        assert attrs["aws"]["firehose"]["arn"] == SOURCE_ARN, attrs
        # The remappers did not preserve their sources (Datadog's default); the rest of
        # the kubernetes metadata is still there.
        k8s = attrs["kubernetes"]
        for gone in ("container_name", "namespace_name", "pod_name", "docker_id"):
            assert gone not in k8s, k8s
        assert k8s["labels"]["app"] == "nginx"
        assert k8s["container_image"] == "nginx:latest"


# --------------------------------------------------------------------------- 1. pipelines


def test_seed_pipeline_create_get_list_update_order_delete(intake):
    with client(intake) as api:
        pipes = LogsPipelinesApi(api)
        created = pipes.create_logs_pipeline(body=seed_pipeline())
        assert_is_seed_pipeline(created)
        seed_id = created.id

        got = pipes.get_logs_pipeline(seed_id)
        assert_is_seed_pipeline(got)
        assert got.to_dict() == created.to_dict()

        listed = parsed(pipes.list_logs_pipelines()).value
        assert [p.id for p in listed] == [seed_id]
        assert listed[0].to_dict() == created.to_dict()

        second = parsed(
            pipes.create_logs_pipeline(
                body=LogsPipeline(name="catch-all", filter=LogsFilter(query="*"), description="second", tags=["team:web"])
            )
        )
        assert second.id != seed_id
        assert (second.description, list(second.tags), second.processors) == ("second", ["team:web"], [])

        order = parsed(pipes.get_logs_pipeline_order())
        assert isinstance(order, LogsPipelinesOrder)
        assert list(order.pipeline_ids) == [seed_id, second.id]
        new_order = parsed(pipes.update_logs_pipeline_order(body=LogsPipelinesOrder(pipeline_ids=[second.id, seed_id])))
        assert list(new_order.pipeline_ids) == [second.id, seed_id]
        assert list(parsed(pipes.get_logs_pipeline_order()).pipeline_ids) == [second.id, seed_id]
        assert [p.id for p in parsed(pipes.list_logs_pipelines()).value] == [second.id, seed_id]

        # PUT replaces: a new name and filter, the same id and place.
        replaced = parsed(
            pipes.update_logs_pipeline(second.id, body=LogsPipeline(name="renamed", filter=LogsFilter(query="service:web")))
        )
        assert (replaced.id, replaced.name, replaced.filter.query) == (second.id, "renamed", "service:web")
        assert not replaced.to_dict().get("description") and not replaced.to_dict().get("tags"), replaced
        assert parsed(pipes.get_logs_pipeline(second.id)).name == "renamed"
        assert [p.id for p in parsed(pipes.list_logs_pipelines()).value] == [second.id, seed_id]

        # A disabled seed pipeline tags nothing; enabled again, it tags the next log.
        off = seed_pipeline()
        off.is_enabled = False
        assert parsed(pipes.update_logs_pipeline(seed_id, body=off)).is_enabled is False
        logs = LogsApi(api)

        def seed_like(msg):
            return HTTPLogItem(
                message=msg,
                ddsource="aws",
                service="aws",
                kubernetes={"pod_name": "p1", "namespace_name": "fargate-namespace", "container_name": "nginx", "docker_id": "d1"},
            )

        logs.submit_log(body=HTTPLog([seed_like("while disabled")]))
        before = wait_logs(api, '"while disabled"', 1)[0]
        assert not [t for t in tags_of(before) if t.startswith(("kube_", "pod_name", "container_id"))], tags_of(before)
        assert attrs_of(before)["kubernetes"]["pod_name"] == "p1"
        assert_is_seed_pipeline(pipes.update_logs_pipeline(seed_id, body=seed_pipeline()))
        logs.submit_log(body=HTTPLog([seed_like("enabled again")]))
        after = wait_logs(api, '"enabled again"', 1)[0]
        for t in ("kube_container_name:nginx", "kube_namespace:fargate-namespace", "pod_name:p1", "container_id:d1"):
            assert t in tags_of(after), tags_of(after)

        # Delete: gone from get, list and order; a second delete is a 404.
        assert pipes.delete_logs_pipeline(second.id) is None
        with pytest.raises(NotFoundException) as e:
            pipes.get_logs_pipeline(second.id)
        assert e.value.status == 404
        assert "error" in error_as(api, e.value, LogsAPIErrorResponse).to_dict()
        with pytest.raises(NotFoundException):
            pipes.delete_logs_pipeline(second.id)
        assert [p.id for p in parsed(pipes.list_logs_pipelines()).value] == [seed_id]
        assert list(parsed(pipes.get_logs_pipeline_order()).pipeline_ids) == [seed_id]


def test_pipeline_with_many_processor_kinds_round_trips_and_applies(intake):
    """Every processor model the client has for what the intake implements goes out and
    comes back field for field, and the pipeline does its work on a submitted log."""
    body = LogsPipeline(
        name="nginx access",
        is_enabled=True,
        filter=LogsFilter(query="source:nginx"),
        description="parses nginx access lines",
        tags=["team:web"],
        processors=[
            LogsGrokParser(
                type=LogsGrokParserType.GROK_PARSER,
                name="access line",
                is_enabled=True,
                source="message",
                samples=["access 10.0.0.1 GET /cart?id=3 404 1500000"],
                grok=LogsGrokParserRules(
                    match_rules="access_line access %{ip:network.client.ip} %{word:http.method} %{notSpace:http.url} "
                    "%{integer:http.status_code} %{integer:duration}",
                    support_rules="",
                ),
            ),
            LogsStatusRemapper(type=LogsStatusRemapperType.STATUS_REMAPPER, name="level", is_enabled=True, sources=["level"]),
            LogsCategoryProcessor(
                type=LogsCategoryProcessorType.CATEGORY_PROCESSOR,
                name="status category",
                is_enabled=True,
                target="http.status_category",
                categories=[
                    LogsCategoryProcessorCategory(filter=LogsFilter(query="@http.status_code:[200 TO 299]"), name="OK"),
                    LogsCategoryProcessorCategory(filter=LogsFilter(query="@http.status_code:[400 TO 499]"), name="client"),
                ],
            ),
            LogsURLParser(
                type=LogsURLParserType.URL_PARSER,
                name="url",
                is_enabled=True,
                sources=["http.url"],
                target="http.url_details",
                normalize_ending_slashes=False,
            ),
            LogsLookupProcessor(
                type=LogsLookupProcessorType.LOOKUP_PROCESSOR,
                name="status text",
                is_enabled=True,
                source="http.status_code",
                target="http.status_text",
                lookup_table=["200,OK", "404,Not Found"],
                default_lookup="other",
            ),
            LogsArithmeticProcessor(
                type=LogsArithmeticProcessorType.ARITHMETIC_PROCESSOR,
                name="ms",
                is_enabled=True,
                target="duration_ms",
                expression="duration / 1000000",
                is_replace_missing=False,
            ),
            LogsStringBuilderProcessor(
                type=LogsStringBuilderProcessorType.STRING_BUILDER_PROCESSOR,
                name="summary",
                is_enabled=True,
                target="summary",
                template="%{http.method} %{http.url_details.path}",
                is_replace_missing=False,
            ),
            LogsPipelineProcessor(
                type=LogsPipelineProcessorType.PIPELINE,
                name="nested",
                is_enabled=True,
                filter=LogsFilter(query="@http.status_code:404"),
                processors=[
                    LogsAttributeRemapper(
                        type=LogsAttributeRemapperType.ATTRIBUTE_REMAPPER,
                        name="missing page tag",
                        is_enabled=True,
                        sources=["http.url_details.path"],
                        source_type="attribute",
                        target="missing_path",
                        target_type="tag",
                        preserve_source=True,
                        override_on_conflict=False,
                    )
                ],
            ),
        ],
    )
    with client(intake) as api:
        created = parsed(LogsPipelinesApi(api).create_logs_pipeline(body=body))
        sent, got = body.to_dict(), created.to_dict()
        for i, (want, have) in enumerate(zip(sent["processors"], got["processors"])):
            assert have == want, f"processor {i}: sent {want}, got back {have}"
        assert {k: got.get(k) for k in sent} == sent
        assert set(got) - set(sent) == {"id", "type", "is_read_only"}
        assert parsed(LogsPipelinesApi(api).get_logs_pipeline(created.id)).to_dict() == got

        LogsApi(api).submit_log(
            body=HTTPLog([HTTPLogItem(message="access 10.0.0.1 GET /cart?id=3 404 1500000", ddsource="nginx", service="web", level="warn")])
        )
        log = wait_logs(api, "source:nginx", 1)[0]
        a = attrs_of(log)
        assert "network" in a, log
        assert a["network"]["client"]["ip"] == "10.0.0.1"
        assert a["http"]["status_code"] == 404
        assert a["http"]["status_category"] == "client"
        assert a["http"]["status_text"] == "Not Found"
        assert a["http"]["url_details"]["path"] == "/cart"
        assert a["duration_ms"] == 1.5
        assert a["summary"] == "GET /cart"
        assert log.attributes.status == "warning"  # spec: `w...` -> warning
        assert "missing_path:/cart" in tags_of(log)


def test_pipeline_errors_are_datadogs(intake):
    with client(intake) as api:
        pipes = LogsPipelinesApi(api)
        # A processor type the intake does not know (as a newer client would send it):
        # 400 with Datadog's LogsAPIErrorResponse, which the client's model parses.
        with pytest.raises(ApiException) as e:
            pipes.create_logs_pipeline(body={"name": "x", "processors": [{"type": "no-such-processor", "name": "p"}]})
        assert e.value.status == 400
        err = error_as(api, e.value, LogsAPIErrorResponse).error
        assert err.code == "InvalidArgument"
        assert "no-such-processor" in err.message
        # A filter that is not a query: 400 too.
        with pytest.raises(ApiException) as e:
            pipes.create_logs_pipeline(body=LogsPipeline(name="bad filter", filter=LogsFilter(query="service:(web")))
        assert e.value.status == 400
        assert error_as(api, e.value, LogsAPIErrorResponse).error.code == "InvalidArgument"
        # An order that is not a permutation of the pipelines: 422.
        p = parsed(pipes.create_logs_pipeline(body=seed_pipeline()))
        with pytest.raises(ApiException) as e:
            pipes.update_logs_pipeline_order(body=LogsPipelinesOrder(pipeline_ids=[p.id, "nope"]))
        assert e.value.status == 422
        error_as(api, e.value, LogsAPIErrorResponse)
        with pytest.raises(NotFoundException):
            pipes.update_logs_pipeline("no-such-id", body=seed_pipeline())
        # Nothing of the refused requests was kept.
        assert [x.id for x in parsed(pipes.list_logs_pipelines()).value] == [p.id]

    # Wrong application key, wrong API key, no application key: 403, {"errors": [...]}.
    for api_key, app_key in ((None, "0" * 40), ("0" * 32, None), (None, "")):
        with client(intake, api_key, app_key) as api:
            pipes = LogsPipelinesApi(api)
            for call in (pipes.list_logs_pipelines, pipes.get_logs_pipeline_order, lambda: pipes.get_logs_pipeline(p.id)):
                with pytest.raises(ForbiddenException) as e:
                    call()
                assert e.value.status == 403
                assert list(error_as(api, e.value, V1APIErrorResponse).errors) == ["Forbidden"]
            with pytest.raises(ForbiddenException):
                pipes.create_logs_pipeline(body=seed_pipeline())
            with pytest.raises(ForbiddenException):
                pipes.delete_logs_pipeline(p.id)
    with client(intake) as api:
        assert [x.id for x in parsed(LogsPipelinesApi(api).list_logs_pipelines()).value] == [p.id]


# --------------------------------------------------------------------------- 2. logs API


def test_submit_log_and_search_post_and_get(intake):
    run = uuid.uuid4().hex[:8]
    now_ms = int(time.time() * 1000)
    items = [
        HTTPLogItem(
            ddsource="python",
            ddtags=f"env:test,run:{run},Team:Web",
            hostname="web-1",
            service="checkout",
            message=f"order {i} placed",
            timestamp=now_ms - (10 - i) * 1000,  # Unix ms: the date of the log
            duration=i * 10,
            usr={"id": f"u{i % 3}"},
        )
        for i in range(6)
    ]
    with client(intake) as api:
        logs = LogsApi(api)
        assert logs.submit_log(body=HTTPLog(items)) == {}
        # The same intake with the client's own compression, gzip and deflate.
        assert logs.submit_log(
            body=HTTPLog([HTTPLogItem(message="zipped", ddsource="python", ddtags=f"run:{run}", service="gz", hostname="web-2")]),
            content_encoding=ContentEncoding.GZIP,
        ) == {}
        assert logs.submit_log(
            body=HTTPLog([HTTPLogItem(message="deflated", ddsource="python", ddtags=f"run:{run}", service="df", hostname="web-2")]),
            content_encoding=ContentEncoding.DEFLATE,
        ) == {}

        found = wait_logs(api, f"run:{run}", 8)
        by_msg = {log.attributes.message: log for log in found}
        assert set(by_msg) == {f"order {i} placed" for i in range(6)} | {"zipped", "deflated"}
        assert len({log.id for log in found}) == 8
        o = by_msg["order 2 placed"]
        assert str(o.type) == "log"
        a = o.attributes
        assert (a.host, a.service, a.status) == ("web-1", "checkout", "info")
        assert {"env:test", f"run:{run}", "team:web"} <= set(a.tags), a.tags
        assert isinstance(a.timestamp, datetime.datetime)
        assert round(a.timestamp.timestamp() * 1000) == now_ms - 8000
        assert a.attributes["duration"] == 20
        assert a.attributes["usr"] == {"id": "u2"}
        assert by_msg["zipped"].attributes.service == "gz"
        assert by_msg["deflated"].attributes.service == "df"

        # Sort both ways; the dated logs come in their dates' order.
        f = LogsQueryFilter(query=f"run:{run} service:checkout", _from="now-15m", to="now")
        asc = parsed(logs.list_logs(body=LogsListRequest(filter=f, sort=LogsSort.TIMESTAMP_ASCENDING)))
        assert [x.attributes.message for x in asc.data] == [f"order {i} placed" for i in range(6)]
        desc = parsed(logs.list_logs(body=LogsListRequest(filter=f, sort=LogsSort.TIMESTAMP_DESCENDING)))
        assert [x.attributes.message for x in desc.data] == [f"order {i} placed" for i in reversed(range(6))]
        assert str(desc.meta.status) == "done"
        # Free text, attribute search, numeric range, negation.
        assert [x.attributes.message for x in search(api, f"run:{run} @duration:>=40")] == ["order 4 placed", "order 5 placed"]
        assert [x.attributes.message for x in search(api, f"run:{run} @usr.id:u1")] == ["order 1 placed", "order 4 placed"]
        assert {x.attributes.message for x in search(api, f"run:{run} -service:checkout")} == {"zipped", "deflated"}
        assert [x.attributes.message for x in search(api, f"run:{run} placed 3")] == ["order 3 placed"]
        # A time window that excludes the older half (filter.from as ms timestamps).
        f = LogsQueryFilter(query=f"run:{run} service:checkout", _from=str(now_ms - 7500), to=str(now_ms))
        recent = parsed(logs.list_logs(body=LogsListRequest(filter=f, sort=LogsSort.TIMESTAMP_ASCENDING)))
        assert [x.attributes.message for x in recent.data] == ["order 3 placed", "order 4 placed", "order 5 placed"]

        # GET /api/v2/logs/events: datetimes for from/to, sort, limit, indexes.
        now = datetime.datetime.now(datetime.timezone.utc)
        got = parsed(
            logs.list_logs_get(
                filter_query=f"run:{run} service:checkout",
                filter_indexes=["main"],
                filter_from=now - datetime.timedelta(minutes=5),
                filter_to=now + datetime.timedelta(seconds=5),
                sort=LogsSort.TIMESTAMP_DESCENDING,
                page_limit=4,
            )
        )
        assert [x.attributes.message for x in got.data] == [f"order {i} placed" for i in (5, 4, 3, 2)]
        assert got.meta.page.after
        rest = parsed(
            logs.list_logs_get(
                filter_query=f"run:{run} service:checkout",
                filter_from=now - datetime.timedelta(minutes=5),
                filter_to=now + datetime.timedelta(seconds=5),
                sort=LogsSort.TIMESTAMP_DESCENDING,
                page_limit=4,
                page_cursor=got.meta.page.after,
            )
        )
        assert [x.attributes.message for x in rest.data] == ["order 1 placed", "order 0 placed"]
        assert "page" not in rest.meta.to_dict() or not rest.meta.page.to_dict().get("after")

    # Refusals in the client's models: no API key 401, a wrong one 403 (HTTPLogErrors);
    # search with a wrong application key 403 (APIErrorResponse).
    with client(intake, api_key="") as api:
        with pytest.raises(UnauthorizedException) as e:
            LogsApi(api).submit_log(body=HTTPLog([HTTPLogItem(message="x")]))
        assert e.value.status == 401
        error_as(api, e.value, HTTPLogErrors)
    with client(intake, api_key="f" * 32) as api:
        with pytest.raises(ForbiddenException) as e:
            LogsApi(api).submit_log(body=HTTPLog([HTTPLogItem(message="x")]))
        assert error_as(api, e.value, HTTPLogErrors).errors[0].status == "403"
    with client(intake, app_key="f" * 40) as api:
        for call in (lambda: LogsApi(api).list_logs(body=LogsListRequest()), lambda: LogsApi(api).list_logs_get()):
            with pytest.raises(ForbiddenException) as e:
                call()
            assert list(error_as(api, e.value, V2APIErrorResponse).errors) == ["Forbidden"]
    with client(intake) as api:
        assert search(api, "x") == []  # nothing of the refused requests was stored


def test_cursor_pagination_and_the_clients_helpers(intake):
    run = uuid.uuid4().hex[:8]
    now_ms = int(time.time() * 1000)
    n = 25
    items = [
        HTTPLogItem(message=f"line {i:02d}", ddsource="pager", ddtags=f"run:{run}", service="pager", timestamp=now_ms - (n - i) * 100)
        for i in range(n)
    ]
    with client(intake) as api:
        logs = LogsApi(api)
        logs.submit_log(body=HTTPLog(items))
        wait_logs(api, f"run:{run}", n)
        want = [f"line {i:02d}" for i in range(n)]

        # By hand with the cursor: 10, 10, 5, and the last page says there is no more.
        f = LogsQueryFilter(query=f"run:{run}", _from="now-15m", to="now")
        seen, cursor, pages = [], None, 0
        while True:
            page = LogsListRequestPage(limit=10)
            if cursor:
                page.cursor = cursor
            resp = parsed(logs.list_logs(body=LogsListRequest(filter=f, sort=LogsSort.TIMESTAMP_ASCENDING, page=page)))
            pages += 1
            seen += [x.attributes.message for x in resp.data]
            after = resp.meta.to_dict().get("page", {}).get("after")
            if not after:
                break
            assert resp.links.next and after in resp.links.next
            cursor = after
            assert pages < 10, "pagination does not end"
        assert seen == want
        assert pages == 3

        # The client's helpers follow meta.page.after themselves (POST and GET).
        req = LogsListRequest(filter=f, sort=LogsSort.TIMESTAMP_ASCENDING, page=LogsListRequestPage(limit=7))
        helper = [parsed(x).attributes.message for x in logs.list_logs_with_pagination(body=req)]
        assert helper == want
        helper_desc = [
            parsed(x).attributes.message
            for x in logs.list_logs_get_with_pagination(filter_query=f"run:{run}", sort=LogsSort.TIMESTAMP_DESCENDING, page_limit=5)
        ]
        assert helper_desc == list(reversed(want))

        # A cursor that is not one: 400 in Datadog's shape.
        with pytest.raises(ApiException) as e:
            logs.list_logs(body=LogsListRequest(filter=f, page=LogsListRequestPage(limit=5, cursor="not-a-cursor")))
        assert e.value.status == 400
        assert e.value.body["errors"][0]["status"] == "400"


def test_aggregate_logs(intake):
    run = uuid.uuid4().hex[:8]
    spec = {"api": [10, 20, 30], "web": [5, 15], "db": [100]}
    items = [
        HTTPLogItem(message=f"{svc} {d}", ddsource="agg", ddtags=f"run:{run}", service=svc, duration=d, usr={"id": f"u{d // 10}"})
        for svc, ds in spec.items()
        for d in ds
    ] + [HTTPLogItem(message="no duration", ddsource="agg", ddtags=f"run:{run}", service="cron")]
    with client(intake) as api:
        LogsApi(api).submit_log(body=HTTPLog(items))
        wait_logs(api, f"run:{run}", 7)
        q = f"run:{run}"

        # Count by service: one bucket per service, biggest first.
        resp = aggregate(api, q, [LogsCompute(aggregation=LogsAggregationFunction.COUNT)], [LogsGroupBy(facet="service")])
        assert str(resp.meta.status) == "done"
        counts = [(b.by["service"], b.computes["c0"]) for b in resp.data.buckets]
        assert counts[0] == ("api", 3)
        assert sorted(counts) == sorted([("api", 3), ("web", 2), ("db", 1), ("cron", 1)])

        # avg and cardinality on attributes, by service; `cron` has no duration.
        resp = aggregate(
            api,
            q,
            [
                LogsCompute(aggregation=LogsAggregationFunction.AVG, metric="@duration"),
                LogsCompute(aggregation=LogsAggregationFunction.CARDINALITY, metric="@usr.id"),
                LogsCompute(aggregation=LogsAggregationFunction.MAX, metric="@duration"),
            ],
            [LogsGroupBy(facet="service")],
        )
        vals = bucket_values(resp)
        assert vals[("api",)]["c0"] == 20 and vals[("api",)]["c1"] == 3 and vals[("api",)]["c2"] == 30
        assert vals[("web",)]["c0"] == 10 and vals[("web",)]["c1"] == 2
        assert vals[("db",)]["c0"] == 100 and vals[("db",)]["c1"] == 1
        assert "c0" not in vals[("cron",)] and vals[("cron",)]["c1"] == 0, vals[("cron",)]

        # Totals without group_by.
        resp = aggregate(
            api,
            q,
            [
                LogsCompute(aggregation=LogsAggregationFunction.COUNT),
                LogsCompute(aggregation=LogsAggregationFunction.CARDINALITY, metric="service"),
                LogsCompute(aggregation=LogsAggregationFunction.SUM, metric="@duration"),
            ],
        )
        (only,) = resp.data.buckets
        assert (only.computes["c0"], only.computes["c1"], only.computes["c2"]) == (7, 4, 180)

        # A timeseries count: 1-minute points over the window, adding up to the total.
        resp = aggregate(
            api, q, [LogsCompute(aggregation=LogsAggregationFunction.COUNT, type=LogsComputeType.TIMESERIES, interval="1m")]
        )
        (only,) = resp.data.buckets
        series = only.computes["c0"]
        assert isinstance(series, LogsAggregateBucketValueTimeseries), type(series)
        points = list(series.value)
        assert len(points) >= 15
        times = [datetime.datetime.fromisoformat(p.time.replace("Z", "+00:00")) for p in points]
        assert times == sorted(times)
        assert all((b - a) == datetime.timedelta(minutes=1) for a, b in zip(times, times[1:]))
        assert sum(p.value for p in points) == 7
        assert points[-1].value + (points[-2].value if len(points) > 1 else 0) == 7

        # By service and a timeseries at once.
        resp = aggregate(
            api,
            q,
            [LogsCompute(aggregation=LogsAggregationFunction.COUNT, type=LogsComputeType.TIMESERIES, interval="5m")],
            [LogsGroupBy(facet="service", limit=2)],
        )
        assert len(resp.data.buckets) == 2
        assert resp.data.buckets[0].by["service"] == "api"


# --------------------------------------------------------------------------- 3. the seed


def test_seed_end_to_end_through_firehose(intake):
    with client(intake) as api:
        pipeline = LogsPipelinesApi(api).create_logs_pipeline(body=seed_pipeline())
        assert_is_seed_pipeline(pipeline)

        pods = list(PODS)
        rid1, rid2 = str(uuid.uuid4()), str(uuid.uuid4())
        # Datadog's sites take Firehose on both paths.
        assert_firehose_ok(firehose_post(intake, seed_records(pods[:2]), rid1), rid1)
        assert_firehose_ok(
            firehose_post(intake, seed_records(pods[2:]), rid2, path="/api/v2/logs?dd-protocol=aws-kinesis-firehose"), rid2
        )
        total = len(PODS) * len(NGINX_LINES)

        # The guide's explorer query, then the Kubernetes tags the pipeline made.
        by_source = wait_logs(api, "source:aws", total)
        assert_seed_tagged(by_source)
        by_ns = search(api, "kube_namespace:fargate-namespace")
        assert {x.id for x in by_ns} == {x.id for x in by_source}
        for pod, docker_id in PODS.items():
            assert len(search(api, f"pod_name:{pod}")) == len(NGINX_LINES)
            assert len(search(api, f"kube_container_name:nginx container_id:{docker_id}")) == len(NGINX_LINES)
        assert len(search(api, 'source:aws "worker processes"')) == 2 * len(PODS)
        assert len(search(api, "@aws.firehose.arn:" + SOURCE_ARN.replace(":", "\\:"))) == total

        # Facets on the new tags.
        resp = aggregate(api, "source:aws", [LogsCompute(aggregation=LogsAggregationFunction.COUNT)], [LogsGroupBy(facet="pod_name")])
        assert sorted((b.by["pod_name"], b.computes["c0"]) for b in resp.data.buckets) == sorted(
            (p, len(NGINX_LINES)) for p in PODS
        )
        resp = aggregate(api, "source:aws", [LogsCompute(aggregation=LogsAggregationFunction.COUNT)], [LogsGroupBy(facet="kube_namespace")])
        assert [(b.by["kube_namespace"], b.computes["c0"]) for b in resp.data.buckets] == [("fargate-namespace", total)]

        # Firehose's retry of an acknowledged batch (same request id) is acknowledged again
        # and not stored twice; a wrong access key is refused in Firehose's shape.
        assert_firehose_ok(firehose_post(intake, seed_records(pods[:2]), rid1), rid1)
        bad = firehose_post(intake, seed_records(pods[:1]), "rid-bad-key", key="f" * 32)
        assert bad.status_code == 401
        assert bad.headers["Content-Type"].startswith("application/json")
        assert bad.json()["requestId"] == "rid-bad-key" and bad.json()["errorMessage"]
        time.sleep(0.5)  # longer than the commit interval: a duplicate would show by now
        assert len(search(api, "source:aws")) == total


# --------------------------------------------------------------------------- 4. restart


def test_restart_keeps_pipeline_logs_request_ids_and_tagging(intakes):
    intake = intakes("intake-restart")
    try:
        with client(intake) as api:
            pipes = LogsPipelinesApi(api)
            pipeline = pipes.create_logs_pipeline(body=seed_pipeline())
            assert_is_seed_pipeline(pipeline)
            other = parsed(pipes.create_logs_pipeline(body=LogsPipeline(name="web", filter=LogsFilter(query="service:web"))))
            parsed(pipes.update_logs_pipeline_order(body=LogsPipelinesOrder(pipeline_ids=[other.id, pipeline.id])))
            rid = str(uuid.uuid4())
            first = seed_records(list(PODS)[:1])
            assert_firehose_ok(firehose_post(intake, first, rid), rid)
            before = wait_logs(api, "kube_namespace:fargate-namespace", len(first))
            assert_seed_tagged(before)
            LogsApi(api).submit_log(body=HTTPLog([HTTPLogItem(message="plain before", service="web", ddsource="python")]))
            wait_logs(api, '"plain before"', 1)

        assert intake.stop() == 0, intake.stderr()
        intake.start()  # same data directory, new port

        with client(intake) as api:
            pipes = LogsPipelinesApi(api)
            again = pipes.get_logs_pipeline(pipeline.id)
            assert_is_seed_pipeline(again)
            assert again.to_dict() == pipeline.to_dict()
            assert list(parsed(pipes.get_logs_pipeline_order()).pipeline_ids) == [other.id, pipeline.id]

            after = search(api, "kube_namespace:fargate-namespace")
            assert sorted(x.id for x in after) == sorted(x.id for x in before)
            assert [x.to_dict() for x in sorted(after, key=lambda x: x.id)] == [
                x.to_dict() for x in sorted(before, key=lambda x: x.id)
            ]
            assert len(search(api, '"plain before"')) == 1

            # Firehose retries the batch it had no answer for: acknowledged, not stored twice.
            assert_firehose_ok(firehose_post(intake, first, rid), rid)
            # New deliveries are still tagged by the restored pipeline.
            rid2 = str(uuid.uuid4())
            second = seed_records(list(PODS)[1:])
            assert_firehose_ok(firehose_post(intake, second, rid2), rid2)
            everything = wait_logs(api, "source:aws", len(first) + len(second))
            assert_seed_tagged(everything)
            assert len(search(api, f"pod_name:{list(PODS)[0]}")) == len(first)
    finally:
        intake.stop()
