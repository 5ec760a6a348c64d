//! `hydrant up`: the seed's whole flow on one machine. The firehose service (HTTP and
//! HTTPS), the logs intake and the log router run in this process; the delivery stream, the
//! seed's pipeline and the router's IAM principal are created from
//! `examples/fargate-datadog/`; the seed's sample app (three nginx pods) is simulated: its
//! CRI log files under the data directory and its pods served in the Kubernetes API's shape.
//!
//! Every piece can be swapped for the user's own: `--configmap`, `--policy`,
//! `--delivery-stream`, `--pipeline`, `--input-path` (real CRI files), `--kube-url` (a real
//! API), `--intake-url` (another intake, Datadog's included).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hydrant_firehose::auth::{load_or_create_credentials, Principals, PROFILE};
use hydrant_firehose::config::PrincipalConfig;
use hydrant_firehose::server::{listen, run_until, tls_config};
use hydrant_firehose::{Firehose, FirehoseConfig};
use hydrant_intake::{Intake, IntakeConfig};
use hydrant_router::config::{self, LoadOptions};
use hydrant_router::fargate::{self, ServiceSettings};
use hydrant_router::http::Health;
use hydrant_router::{Registry, Router, RouterOptions};
use tokio_util::sync::CancellationToken;

const CONFIGMAP: &str = include_str!("../../../examples/fargate-datadog/aws-logging-configmap.yaml");
const POLICY: &str = include_str!("../../../examples/fargate-datadog/allow_kinesis_put_permission.json");
const DELIVERY_STREAM: &str = include_str!("../../../examples/fargate-datadog/delivery-stream.json");
const PIPELINE: &str = include_str!("../../../examples/fargate-datadog/pipeline.json");
/// The endpoint URL in the example stream, replaced by the running intake's.
const EXAMPLE_INTAKE: &str = "http://127.0.0.1:8080";
/// The API key placeholder in the example stream.
const API_KEY_PLACEHOLDER: &str = "<DATADOG-API-KEY>";

/// Arguments of `hydrant up`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for everything: buffers, index, local "S3" buckets, positions, the sample
    /// app's log files, development certificates.
    #[arg(long, default_value = "./hydrant-data")]
    data_dir: PathBuf,
    /// The firehose service's HTTP address.
    #[arg(long, default_value = "127.0.0.1:4573")]
    firehose_listen: SocketAddr,
    /// The firehose service's HTTPS address (the router uses it, with the development CA).
    #[arg(long, default_value = "127.0.0.1:4443")]
    firehose_tls_listen: SocketAddr,
    /// The intake's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    intake_listen: SocketAddr,
    /// The router's `/metrics` and `/health` address.
    #[arg(long, default_value = "127.0.0.1:2020")]
    router_http_listen: SocketAddr,
    /// The aws-logging ConfigMap [default: examples/fargate-datadog/aws-logging-configmap.yaml].
    #[arg(long)]
    configmap: Option<PathBuf>,
    /// The IAM policy the router's principal holds [default: the seed's allow_kinesis_put_permission.json].
    #[arg(long)]
    policy: Option<PathBuf>,
    /// CreateDeliveryStream input JSON [default: examples/fargate-datadog/delivery-stream.json].
    #[arg(long)]
    delivery_stream: Option<PathBuf>,
    /// Logs pipeline JSON [default: the seed's "EKS Fargate Log Pipeline"].
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Tail these CRI log files (a glob) instead of the simulated sample app's.
    #[arg(long)]
    input_path: Option<PathBuf>,
    /// The Kubernetes API for the kubernetes filter [default: the simulated app's recorded API].
    #[arg(long)]
    kube_url: Option<String>,
    /// Do not simulate the sample app.
    #[arg(long)]
    no_sample_app: bool,
    /// Access lines per second the simulated app writes (over its three pods).
    #[arg(long, default_value_t = 5)]
    lines_per_second: u32,
    /// Deliver to this HTTP endpoint (another `hydrant intake`, Datadog's Firehose intake)
    /// instead of starting an intake here.
    #[arg(long)]
    intake_url: Option<String>,
    /// The access key for --intake-url (Datadog: an API key).
    #[arg(long)]
    api_key: Option<String>,
}

/// What the running flow needs to be stopped.
struct Running {
    stop_router: CancellationToken,
    router: tokio::task::JoinHandle<anyhow::Result<()>>,
    stop_rest: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Run the flow until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    let data = args.data_dir.clone();
    for sub in ["firehose", "router", "tls", "containers"] {
        std::fs::create_dir_all(data.join(sub)).map_err(|e| anyhow::anyhow!("creating {}: {e}", data.display()))?;
    }
    let router_credentials = data.join("router").join("credentials");
    load_or_create_credentials(&router_credentials)?;
    // The router's kinesis_firehose output finds its credentials and endpoint the standard
    // AWS SDK way, as on Fargate; set them before any thread starts. Credentials in the
    // environment would win over the profile, so they go.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &router_credentials);
    std::env::set_var("AWS_PROFILE", PROFILE);
    std::env::set_var("AWS_ENDPOINT_URL_FIREHOSE", format!("https://{}", args.firehose_tls_listen));
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let running = start(&args).await?;
        crate::signals::shutdown().await;
        println!("stopping: the router flushes, then the services stop");
        running.stop_router.cancel();
        match running.router.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "router"),
            Err(e) => tracing::error!(error = %e, "router task"),
        }
        running.stop_rest.cancel();
        for t in running.tasks {
            let _ = t.await;
        }
        Ok(())
    })
}

fn read_or(path: &Option<PathBuf>, default: &str) -> anyhow::Result<String> {
    match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())),
        None => Ok(default.to_owned()),
    }
}

async fn start(args: &Args) -> anyhow::Result<Running> {
    let data = &args.data_dir;
    let stop_rest = CancellationToken::new();
    let mut tasks = Vec::new();

    // The ConfigMap names the stream and region everything else must agree on.
    let configmap_path = match &args.configmap {
        Some(p) => p.clone(),
        None => {
            let p = data.join("router").join("aws-logging-configmap.yaml");
            std::fs::write(&p, CONFIGMAP)?;
            p
        }
    };
    let input_path = args.input_path.clone().unwrap_or_else(|| data.join("containers").join("*.log"));
    let load = LoadOptions {
        input_path: Some(input_path.clone()),
        input_db: Some(data.join("router").join("flb_kube.db")),
        ..LoadOptions::default()
    };
    let mut cfg =
        config::load(&configmap_path, &load).map_err(|e| anyhow::anyhow!("{}:\n{e}", configmap_path.display()))?;
    let output = cfg
        .outputs
        .iter()
        .find(|o| o.is("kinesis_firehose") || o.is("firehose"))
        .ok_or_else(|| anyhow::anyhow!("{}: no kinesis_firehose output", configmap_path.display()))?;
    let region = output.get("region").unwrap_or("us-east-1").to_owned();
    let stream = output
        .get("delivery_stream")
        .ok_or_else(|| anyhow::anyhow!("{}: the output names no delivery_stream", configmap_path.display()))?
        .to_owned();
    let account = "123456789012";

    // Development certificates for the HTTPS listener the router uses.
    let tls_dir = data.join("tls");
    let (ca, cert, key) = (tls_dir.join("ca.pem"), tls_dir.join("server.pem"), tls_dir.join("server-key.pem"));
    if !ca.exists() || !cert.exists() || !key.exists() {
        crate::certs::make(&tls_dir, &["localhost".into(), "127.0.0.1".into(), "::1".into()])?;
    }

    // The intake.
    let (intake_url, api_key, app_key) = match &args.intake_url {
        Some(url) => {
            let key = args.api_key.clone().ok_or_else(|| anyhow::anyhow!("--intake-url needs --api-key"))?;
            (url.clone(), key, None)
        }
        None => {
            let config = IntakeConfig { listen: args.intake_listen, data_dir: data.clone(), ..IntakeConfig::default() };
            let started = Intake::start(config)?;
            let intake = started.intake;
            let listener = tokio::net::TcpListener::bind(args.intake_listen)
                .await
                .map_err(|e| anyhow::anyhow!("intake: binding {}: {e}", args.intake_listen))?;
            let addr = listener.local_addr()?;
            let (api, app) = (intake.keys.api_keys[0].clone(), intake.keys.app_keys[0].clone());
            let app_router = hydrant_intake::router(intake);
            let stop = stop_rest.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(hydrant_intake::no_delay(listener), app_router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
            }));
            (format!("http://{addr}"), api, Some(app))
        }
    };

    // The firehose service: a root principal for the operator, one for the router holding
    // exactly the seed's policy.
    let policy_text = read_or(&args.policy, POLICY)?
        .replace("<REGION>", &region)
        .replace("<ACCOUNTID>", account)
        .replace("<DELIVERY-STREAM-NAME>", &stream);
    let policy_file = data.join("router").join("allow_kinesis_put_permission.json");
    std::fs::write(&policy_file, &policy_text)?;
    let root = load_or_create_credentials(&data.join("firehose").join("credentials"))?;
    let router_keys = load_or_create_credentials(&data.join("router").join("credentials"))?;
    let fh_config = FirehoseConfig {
        listen: args.firehose_listen,
        tls_listen: Some(args.firehose_tls_listen),
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        data_dir: data.join("firehose"),
        region: region.clone(),
        account_id: account.into(),
        principals: vec![
            PrincipalConfig {
                name: "root".into(),
                access_key_id: root.0.clone(),
                secret_access_key: root.1.clone(),
                account_id: None,
                root: true,
                policy_files: vec![],
                inline_policies: vec![],
            },
            PrincipalConfig {
                name: "fargate-log-router".into(),
                access_key_id: router_keys.0.clone(),
                secret_access_key: router_keys.1.clone(),
                account_id: None,
                root: false,
                policy_files: vec![policy_file.clone()],
                inline_policies: vec![],
            },
        ],
        ..FirehoseConfig::default()
    };
    let principals = Principals::load(&fh_config)?.principals;
    let root_principal = principals.get(&root.0).cloned().ok_or_else(|| anyhow::anyhow!("root principal"))?;
    let svc = Firehose::start(fh_config.clone(), principals).await?;
    let http = listen(svc.clone(), args.firehose_listen, None).await?;
    let https = listen(svc.clone(), args.firehose_tls_listen, Some(tls_config(&cert, &key).await?)).await?;
    let (fh_http, fh_https) = (http.local_addr, https.local_addr);
    {
        let (svc, stop) = (svc.clone(), stop_rest.clone());
        tasks.push(tokio::spawn(async move { run_until(svc, vec![http, https], stop).await }));
    }

    // The delivery stream, pointed at the intake with its API key.
    let mut stream_def: serde_json::Value = serde_json::from_str(&read_or(&args.delivery_stream, DELIVERY_STREAM)?)?;
    stream_def["DeliveryStreamName"] = stream.clone().into();
    if let Some(ep) = stream_def.pointer_mut("/HttpEndpointDestinationConfiguration/EndpointConfiguration") {
        let url = ep["Url"].as_str().unwrap_or_default().to_owned();
        let url = match &args.intake_url {
            Some(u) => u.clone(),
            None => url.replace(EXAMPLE_INTAKE, &intake_url),
        };
        ep["Url"] = url.into();
        if ep["AccessKey"].as_str().is_none_or(|k| k == API_KEY_PLACEHOLDER) {
            ep["AccessKey"] = api_key.clone().into();
        }
    }
    match hydrant_firehose::operations::create(&svc, &root_principal, stream_def.to_string().as_bytes()).await {
        Ok(_) => {}
        Err(e) if e.code == "ResourceInUseException" => {}
        Err(e) => anyhow::bail!("creating delivery stream {stream}: {}: {}", e.code, e.message),
    }

    // The seed's pipeline, through the intake's own API (once).
    if let Some(app_key) = &app_key {
        ensure_pipeline(&intake_url, &api_key, app_key, &read_or(&args.pipeline, PIPELINE)?).await?;
    }

    // The sample app and its pods' metadata.
    let simulate = !args.no_sample_app && args.input_path.is_none();
    let token_file = data.join("router").join("kube-token");
    let mut kube_url = args.kube_url.clone();
    let mut recorded = None;
    if simulate {
        let app = hydrant_sampleapp::SampleApp::new(rand::random());
        let api = hydrant_kubernetes::recorded::RecordedApi::start(app.api_objects()).await?;
        // A service-account token, as the kubelet mounts one, checked by the recorded API.
        let token = format!("{:032x}", rand::random::<u128>());
        std::fs::write(&token_file, &token)?;
        api.set_token(Some(&token));
        kube_url.get_or_insert(api.url());
        recorded = Some(api);
        let (dir, lps, stop) = (data.join("containers"), args.lines_per_second, stop_rest.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = app.run(dir, lps, stop).await {
                tracing::error!(error = %e, "sample app");
            }
        }));
    }

    // The router, configured by the ConfigMap as Fargate's service would, plus the
    // development CA for the HTTPS endpoint.
    fargate::apply(
        &mut cfg,
        &ServiceSettings {
            input_path: Some(input_path.clone()),
            kube_url: kube_url.clone(),
            kube_token_file: simulate.then(|| token_file.clone()),
            ..ServiceSettings::default()
        },
    );
    for out in cfg.outputs.iter_mut().filter(|o| o.is("kinesis_firehose") || o.is("firehose")) {
        if !out.properties.contains("tls.ca_file") {
            out.properties.set("tls.ca_file", ca.display().to_string());
        }
    }
    let ship_own_logs = cfg.fargate.as_ref().is_some_and(|f| f.flb_log_cw);
    let options = RouterOptions { ship_own_logs, ..RouterOptions::new(data.join("router"), Registry::builtin()) };
    let router = Router::build(cfg, options).map_err(|e| anyhow::anyhow!("{}:\n{e}", configmap_path.display()))?;
    let metrics = router.metrics();
    let health = Arc::new(Health::new(metrics.clone(), router.output_names(), Duration::from_secs(60)));
    let router_http =
        hydrant_router::http::serve(args.router_http_listen, metrics, health, stop_rest.child_token()).await?;
    let stop_router = CancellationToken::new();
    let router_task = {
        let stop = stop_router.clone();
        let recorded = recorded.take();
        tokio::spawn(async move {
            let result = router.run(stop).await;
            drop(recorded);
            result
        })
    };

    let root_creds = data.join("firehose").join("credentials");
    println!("Hydrant is up (data in {})", data.display());
    println!();
    match &app_key {
        Some(app) => {
            println!("  explorer  {intake_url}/#api_key={api_key}&app_key={app}   (search: source:aws)");
            println!("  intake    {intake_url}   API key {api_key}, application key {app}");
        }
        None => println!("  intake    {intake_url} (external)"),
    }
    println!("  firehose  http://{fh_http}  https://{fh_https} (CA {})   stream {stream} ({region})", ca.display());
    println!(
        "            failed deliveries backed up under {}",
        data.join("firehose").join("s3").join(backup_bucket(&stream_def)).join("http-endpoint-failed").display()
    );
    println!(
        "  router    tailing {}{}",
        input_path.display(),
        if simulate { " (simulated sample app: 3 nginx pods in fargate-namespace)" } else { "" }
    );
    println!(
        "            as principal fargate-log-router ({}), metrics http://{router_http}/metrics",
        policy_file.display()
    );
    println!();
    println!("Try:");
    println!(
        "  AWS_SHARED_CREDENTIALS_FILE={} aws --profile {PROFILE} --region {region} --endpoint-url http://{fh_http} \
         firehose describe-delivery-stream --delivery-stream-name {stream}",
        root_creds.display()
    );
    if let Some(app) = &app_key {
        println!(
            "  curl -s -H 'DD-API-KEY: {api_key}' -H 'DD-APPLICATION-KEY: {app}' \
             '{intake_url}/api/v2/logs/events?filter%5Bquery%5D=source:aws&page%5Blimit%5D=5'"
        );
    }
    println!("Ctrl-C stops everything (the router flushes first).");
    Ok(Running { stop_router, router: router_task, stop_rest, tasks })
}

fn backup_bucket(stream_def: &serde_json::Value) -> String {
    stream_def
        .pointer("/HttpEndpointDestinationConfiguration/S3Configuration/BucketARN")
        .and_then(|v| v.as_str())
        .and_then(|arn| arn.strip_prefix("arn:aws:s3:::"))
        .unwrap_or("backup")
        .to_owned()
}

/// Create `pipeline` through the intake's Pipelines API unless one of that name exists.
async fn ensure_pipeline(intake: &str, api_key: &str, app_key: &str, pipeline: &str) -> anyhow::Result<()> {
    let wanted: serde_json::Value = serde_json::from_str(pipeline)?;
    let url = format!("{intake}/api/v1/logs/config/pipelines");
    let client = reqwest::Client::new();
    let existing: serde_json::Value = client
        .get(&url)
        .header("DD-API-KEY", api_key)
        .header("DD-APPLICATION-KEY", app_key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let name = wanted["name"].as_str().unwrap_or_default();
    if existing.as_array().is_some_and(|list| list.iter().any(|p| p["name"] == name)) {
        return Ok(());
    }
    let response = client
        .post(&url)
        .header("DD-API-KEY", api_key)
        .header("DD-APPLICATION-KEY", app_key)
        .json(&wanted)
        .send()
        .await?;
    if !response.status().is_success() {
        anyhow::bail!("creating pipeline {name}: {} {}", response.status(), response.text().await.unwrap_or_default());
    }
    Ok(())
}
