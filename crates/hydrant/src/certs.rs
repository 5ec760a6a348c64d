//! `hydrant dev-certs`: a local certificate authority and a server certificate signed
//! by it, so that clients which insist on TLS (Fluent Bit's `kinesis_firehose` output)
//! can trust a development server through `tls.ca_file`.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

/// Arguments of `hydrant dev-certs`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory to write `ca.pem`, `server.pem` and `server-key.pem` into.
    #[arg(long, default_value = "./hydrant-data/tls")]
    out_dir: PathBuf,
    /// Names and addresses the server certificate is valid for.
    #[arg(long = "host", default_values = ["localhost", "127.0.0.1", "::1"])]
    hosts: Vec<String>,
}

/// Writes the CA and server certificate, printing their paths.
pub fn run(args: Args) -> anyhow::Result<()> {
    let files = make(&args.out_dir, &args.hosts)?;
    println!("CA certificate:     {}", files.ca.display());
    println!("server certificate: {}", files.cert.display());
    println!("server key:         {}", files.key.display());
    println!();
    println!(
        "hydrant firehose --tls-listen 127.0.0.1:4443 --tls-cert {} --tls-key {}",
        files.cert.display(),
        files.key.display()
    );
    println!("Fluent Bit:  tls.ca_file {}   aws CLI:  --ca-bundle {}", files.ca.display(), files.ca.display());
    Ok(())
}

/// Paths of the generated files.
pub struct Files {
    /// The CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

/// Generates a CA and a server certificate for `hosts` into `dir`.
pub fn make(dir: &std::path::Path, hosts: &[String]) -> anyhow::Result<Files> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "Hydrant development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, hosts.first().cloned().unwrap_or_else(|| "localhost".into()));
    for h in hosts {
        params.subject_alt_names.push(match h.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(h.clone().try_into()?),
        });
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca, &ca_key)?;

    let files = Files { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server-key.pem") };
    std::fs::write(&files.ca, ca.pem())?;
    std::fs::write(&files.cert, cert.pem())?;
    std::fs::write(&files.key, key.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(files)
}
