//! The seed's sample application, simulated for `hydrant up`, the router's tests and its
//! benchmark: the Deployment `sample-app` in namespace `fargate-namespace` (nginx, label
//! `app=nginx`), three pods as in the guide's `kubectl get pods`, each writing what the
//! nginx image writes (the entrypoint's start-up lines, nginx's `[notice]` lines on stderr,
//! access lines in nginx's `main` format on stdout) in the CRI format containerd writes to
//! `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`.
//!
//! [`Pod::object`] gives each pod as the Kubernetes API returns it (what the router's
//! kubernetes filter looks up), and [`namespace_object`] the namespace.
//!
//! Everything is deterministic from a seed, so tests can predict names and ids.

#![warn(missing_docs)]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The namespace of the seed's sample app.
pub const NAMESPACE: &str = "fargate-namespace";
/// The Deployment's name.
pub const DEPLOYMENT: &str = "sample-app";
/// The container's name.
pub const CONTAINER: &str = "nginx";
/// The image the Deployment names (`image: nginx`), as the kubelet reports it.
pub const IMAGE: &str = "docker.io/library/nginx:latest";
/// The ReplicaSet hash in the pod names (from the guide's `kubectl get pods`).
pub const TEMPLATE_HASH: &str = "6c8b449b8f";
/// The pod names the guide shows.
pub const POD_SUFFIXES: [&str; 3] = ["kq2qz", "nn2w7", "wzsjj"];

/// One simulated pod.
#[derive(Debug, Clone)]
pub struct Pod {
    /// `sample-app-6c8b449b8f-kq2qz`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// The container id (64 hex digits) in the log file name and `containerID`.
    pub container_id: String,
    /// `status.podIP`.
    pub ip: String,
    /// `spec.nodeName`: Fargate gives each pod its own node.
    pub node: String,
}

impl Pod {
    /// The log file name: `<pod>_<namespace>_<container>-<container id>.log`.
    pub fn log_file_name(&self) -> String {
        format!("{}_{}_{}-{}.log", self.name, NAMESPACE, CONTAINER, self.container_id)
    }

    /// The Fluent Bit tag the managed input gives this pod's file when it lives in
    /// `/var/log/containers` (`kube.var.log.containers.<file name>`).
    pub fn fargate_tag(&self) -> String {
        format!("kube.var.log.containers.{}", self.log_file_name())
    }

    /// The pod as `GET /api/v1/namespaces/fargate-namespace/pods/<name>` returns it.
    pub fn object(&self) -> Value {
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": self.name,
                "generateName": format!("{DEPLOYMENT}-{TEMPLATE_HASH}-"),
                "namespace": NAMESPACE,
                "uid": self.uid,
                "resourceVersion": "4242",
                "creationTimestamp": "2023-01-27T16:53:38Z",
                "labels": {
                    "app": "nginx",
                    "eks.amazonaws.com/fargate-profile": "fargate-profile",
                    "pod-template-hash": TEMPLATE_HASH
                },
                "annotations": {
                    "CapacityProvisioned": "0.25vCPU 0.5GB",
                    "Logging": "LoggingEnabled"
                },
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": format!("{DEPLOYMENT}-{TEMPLATE_HASH}"),
                    "uid": "6f1e4a8e-0b7c-4c8e-9a55-3f1d2c7b9e10",
                    "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "spec": {
                "containers": [{
                    "name": CONTAINER,
                    "image": "nginx",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {},
                    "imagePullPolicy": "Always"
                }],
                "restartPolicy": "Always",
                "schedulerName": "fargate-scheduler",
                "nodeName": self.node,
                "serviceAccountName": "default"
            },
            "status": {
                "phase": "Running",
                "hostIP": self.ip,
                "podIP": self.ip,
                "podIPs": [{"ip": self.ip}],
                "startTime": "2023-01-27T16:53:39Z",
                "containerStatuses": [{
                    "name": CONTAINER,
                    "ready": true,
                    "restartCount": 0,
                    "image": IMAGE,
                    "imageID": "docker.io/library/nginx@sha256:b8f2383a95879e1ae064940d9a200f67a6c79e710ed82ac42263397367e7cc4e",
                    "containerID": format!("containerd://{}", self.container_id),
                    "started": true,
                    "state": {"running": {"startedAt": "2023-01-27T16:53:42Z"}}
                }]
            }
        })
    }
}

/// The namespace as `GET /api/v1/namespaces/fargate-namespace` returns it.
pub fn namespace_object() -> Value {
    json!({
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": NAMESPACE,
            "uid": "0d6c3f0e-5f5e-4c61-9a3c-1f3f1d1e2a77",
            "resourceVersion": "4100",
            "creationTimestamp": "2023-01-27T16:50:02Z",
            "labels": {"kubernetes.io/metadata.name": NAMESPACE}
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    })
}

/// The simulated app: its pods and the random source for its traffic.
pub struct SampleApp {
    /// The pods, in the guide's order.
    pub pods: Vec<Pod>,
    rng: StdRng,
}

impl SampleApp {
    /// The three pods of the guide, with ids derived from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let pods = POD_SUFFIXES
            .iter()
            .map(|suffix| {
                let ip = format!("192.168.{}.{}", rng.gen_range(96..128), rng.gen_range(2..255));
                Pod {
                    name: format!("{DEPLOYMENT}-{TEMPLATE_HASH}-{suffix}"),
                    uid: uuid_like(&mut rng),
                    container_id: hex(&mut rng, 32),
                    node: format!("fargate-ip-{}.ec2.internal", ip.replace('.', "-")),
                    ip,
                }
            })
            .collect();
        SampleApp { pods, rng }
    }

    /// Every object the Kubernetes API would serve for the app: the namespace, then the pods.
    pub fn api_objects(&self) -> Vec<Value> {
        std::iter::once(namespace_object()).chain(self.pods.iter().map(Pod::object)).collect()
    }

    /// One access line in nginx's `main` format, at `time`.
    pub fn access_line(&mut self, time: DateTime<Utc>) -> String {
        access_line(&mut self.rng, time)
    }

    /// Write the start-up lines of every pod (CRI format) to its file in `dir`; returns the
    /// paths.
    pub fn write_startup(&mut self, dir: &Path, time: DateTime<Utc>) -> std::io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for pod in &self.pods {
            let path = dir.join(pod.log_file_name());
            let mut out = BufWriter::new(OpenOptions::new().create(true).append(true).open(&path)?);
            for (i, (stream, line)) in startup_lines(time).iter().enumerate() {
                let t = time + chrono::Duration::microseconds(i as i64 * 137);
                writeln!(out, "{}", cri_line(t, stream, line))?;
            }
            out.flush()?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// Append `lines` access lines spread over the pods (CRI format, stdout, stamped now).
    pub fn write_access(&mut self, dir: &Path, lines: usize) -> std::io::Result<()> {
        let mut files: Vec<BufWriter<File>> = self
            .pods
            .iter()
            .map(|p| OpenOptions::new().create(true).append(true).open(dir.join(p.log_file_name())).map(BufWriter::new))
            .collect::<Result<_, _>>()?;
        for i in 0..lines {
            let now = Utc::now();
            let line = self.access_line(now);
            let n = files.len();
            writeln!(files[i % n], "{}", cri_line(now, "stdout", &line))?;
        }
        for f in &mut files {
            f.flush()?;
        }
        Ok(())
    }

    /// Write the start-up lines, then `lines_per_second` access lines a second until
    /// `stop` (for `hydrant up`).
    pub async fn run(
        mut self,
        dir: PathBuf,
        lines_per_second: u32,
        stop: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        self.write_startup(&dir, Utc::now())?;
        let period = Duration::from_secs_f64(1.0 / f64::from(lines_per_second.max(1)));
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tick.tick() => self.write_access(&dir, 1)?,
            }
        }
    }
}

/// A CRI log line as containerd writes it: RFC 3339 time with nanoseconds, stream, `F`
/// (a full line), content.
pub fn cri_line(time: DateTime<Utc>, stream: &str, content: &str) -> String {
    format!("{} {stream} F {content}", time.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
}

/// What the nginx image prints when it starts (entrypoint on stdout, nginx's notices on
/// stderr), with nginx's own timestamps at `time`.
pub fn startup_lines(time: DateTime<Utc>) -> Vec<(&'static str, String)> {
    let t = time.format("%Y/%m/%d %H:%M:%S");
    let mut lines: Vec<(&'static str, String)> = [
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
        "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
    ]
    .into_iter()
    .map(|l| ("stdout", l.to_owned()))
    .collect();
    for notice in [
        "using the \"epoll\" event method",
        "nginx/1.23.3",
        "built by gcc 10.2.1 20210110 (Debian 10.2.1-6)",
        "OS: Linux 4.14.294-220.533.amzn2.x86_64",
        "getrlimit(RLIMIT_NOFILE): 1024:65535",
        "start worker processes",
        "start worker process 29",
        "start worker process 30",
    ] {
        lines.push(("stderr", format!("{t} [notice] 1#1: {notice}")));
    }
    lines
}

const PATHS: [(&str, u32); 8] = [
    ("/", 615),
    ("/index.html", 615),
    ("/favicon.ico", 153),
    ("/api/orders", 1024),
    ("/api/orders/42", 312),
    ("/healthz", 2),
    ("/static/app.js", 48213),
    ("/missing", 153),
];

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "curl/8.4.0",
    "ELB-HealthChecker/2.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
];

/// An access line in nginx's default `main` format:
/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`.
pub fn access_line(rng: &mut impl Rng, time: DateTime<Utc>) -> String {
    let (path, size) = PATHS[rng.gen_range(0..PATHS.len())];
    let (method, status) = match path {
        "/missing" => ("GET", 404),
        "/api/orders" if rng.gen_bool(0.3) => ("POST", 201),
        _ if rng.gen_bool(0.01) => ("GET", 500),
        _ => ("GET", 200),
    };
    let agent = AGENTS[rng.gen_range(0..AGENTS.len())];
    format!(
        "192.168.{}.{} - - [{}] \"{method} {path} HTTP/1.1\" {status} {size} \"-\" \"{agent}\" \"-\"",
        rng.gen_range(0..64),
        rng.gen_range(1..255),
        time.format("%d/%b/%Y:%H:%M:%S %z"),
    )
}

/// Fill `path` with about `bytes` of CRI access lines (for benchmarks); returns the number
/// of lines written.
pub fn write_bulk(path: &Path, bytes: u64, seed: u64) -> std::io::Result<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let start = Utc::now() - chrono::Duration::hours(1);
    let (mut written, mut lines) = (0u64, 0u64);
    while written < bytes {
        let t = start + chrono::Duration::microseconds(lines as i64 * 50);
        let line = cri_line(t, "stdout", &access_line(&mut rng, t));
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        lines += 1;
    }
    out.flush()?;
    Ok(lines)
}

fn hex(rng: &mut impl Rng, bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rng.gen::<u8>())).collect()
}

fn uuid_like(rng: &mut impl Rng) -> String {
    let h = hex(rng, 16);
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_match_the_kubernetes_naming_rules() {
        let app = SampleApp::new(7);
        assert_eq!(app.pods.len(), 3);
        let tag_re = regex_lite_check;
        for pod in &app.pods {
            assert!(pod.name.starts_with("sample-app-6c8b449b8f-"));
            assert_eq!(pod.container_id.len(), 64);
            assert!(tag_re(&pod.log_file_name()), "{}", pod.log_file_name());
            let obj = pod.object();
            assert_eq!(obj["metadata"]["namespace"], NAMESPACE);
            assert_eq!(
                obj["status"]["containerStatuses"][0]["containerID"],
                format!("containerd://{}", pod.container_id)
            );
        }
        // Deterministic: same seed, same ids.
        assert_eq!(SampleApp::new(7).pods[0].container_id, app.pods[0].container_id);
    }

    /// `<pod>_<ns>_<container>-<64 hex>.log`, as the kubernetes filter's tag regex wants.
    fn regex_lite_check(name: &str) -> bool {
        let Some(stem) = name.strip_suffix(".log") else { return false };
        let (rest, id) = stem.rsplit_once('-').unwrap();
        let parts: Vec<&str> = rest.split('_').collect();
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) && parts == [parts[0], NAMESPACE, CONTAINER]
    }

    #[test]
    fn lines_are_cri_and_nginx_shaped() {
        let t = DateTime::parse_from_rfc3339("2023-01-27T16:53:42.5Z").unwrap().with_timezone(&Utc);
        let line = cri_line(t, "stdout", "hello");
        assert_eq!(line, "2023-01-27T16:53:42.500000000Z stdout F hello");
        let mut rng = StdRng::seed_from_u64(1);
        let access = access_line(&mut rng, t);
        assert!(access.contains(" - - [27/Jan/2023:16:53:42 +0000] \""), "{access}");
        let startup = startup_lines(t);
        assert!(startup.contains(&("stderr", "2023/01/27 16:53:42 [notice] 1#1: nginx/1.23.3".to_owned())));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bulk.log");
        let lines = write_bulk(&path, 100_000, 3).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count() as u64, lines);
        assert!(text.len() >= 100_000 && text.lines().all(|l| l.contains(" stdout F 192.168.")));
    }
}
