//! The parts of AWS's wire contract that Hydrant has to reproduce as a *server*:
//! the AWS JSON 1.1 error shape ([`AwsError`]), ARNs ([`arn`]), verification of
//! Signature Version 4 request signatures ([`sigv4`]), the `x-amz-date` timestamp
//! format ([`time`]) and identity-policy evaluation ([`iam`]).
//!
//! The AWS SDKs only ever play the client role, so none of this exists as a
//! reusable library: `aws-sigv4` can sign but cannot check a signature whose
//! signed-header list was chosen by somebody else, and no crate evaluates IAM
//! policy documents. Those pieces are therefore written here by hand, kept as
//! small as the protocol allows, and tested against requests signed by the real
//! `aws-sigv4` signer and against AWS's published SigV4 test vectors.

#![warn(missing_docs)]

pub mod arn;
pub mod error;
pub mod iam;
pub mod sigv4;
pub mod time;

pub use error::AwsError;
