//! Recorded Kubernetes objects for tests and demos (`hydrant up`): the EKS Fargate sample
//! app (deployment `sample-app` in `fargate-namespace`, container `nginx`), as the API server
//! returns them. The JSON files live in `tests/fixtures/`.

/// The sample app's pod (`GET /api/v1/namespaces/fargate-namespace/pods/<POD_NAME>`).
pub const SAMPLE_POD_JSON: &str = include_str!("../tests/fixtures/sample-app-pod.json");
/// Its namespace (`GET /api/v1/namespaces/fargate-namespace`).
pub const SAMPLE_NAMESPACE_JSON: &str = include_str!("../tests/fixtures/fargate-namespace.json");

/// The pod's namespace.
pub const NAMESPACE: &str = "fargate-namespace";
/// The pod's name.
pub const POD_NAME: &str = "sample-app-7c5bd8b6f4-9xkzq";
/// The container's name.
pub const CONTAINER_NAME: &str = "nginx";
/// The container's id (the 64 hex digits in its log file name and `containerID`).
pub const DOCKER_ID: &str = "3f7c1e0a9b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e";

/// The sample pod as JSON.
pub fn sample_pod() -> serde_json::Value {
    serde_json::from_str(SAMPLE_POD_JSON).expect("fixture is JSON")
}

/// The sample namespace as JSON.
pub fn sample_namespace() -> serde_json::Value {
    serde_json::from_str(SAMPLE_NAMESPACE_JSON).expect("fixture is JSON")
}

/// Both objects, ready for [`crate::recorded::RecordedApi::start`].
pub fn sample_objects() -> Vec<serde_json::Value> {
    vec![sample_namespace(), sample_pod()]
}

/// The log file name the kubelet gives the container (`<pod>_<ns>_<container>-<id>.log`).
pub fn log_file_name() -> String {
    format!("{POD_NAME}_{NAMESPACE}_{CONTAINER_NAME}-{DOCKER_ID}.log")
}

/// The tag the Fargate tail input gives its records (`kube.` + the path with `/` as `.`).
pub fn tag() -> String {
    format!("kube.var.log.containers.{}", log_file_name())
}
