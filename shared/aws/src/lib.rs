//! AWS adapters for Vanta's ports.
//!
//! - [`dynamo`]: the single-table DynamoDB adapter for [`vanta_domain::ports::Store`].
//! - [`kms_secrets`]: KMS as the master key of signal-source secrets (envelope encryption).
//!
//! Domain types never see SDK types: each adapter owns its wire mapping and maps SDK errors to
//! [`vanta_domain::DomainError`] by what the caller should do about them, through
//! [`error::AwsError`], which keeps the SDK's error as its source and logs the whole chain once.

pub mod direct;
pub mod dynamo;
pub mod error;
pub mod kms_secrets;
pub mod sqs;

#[cfg(test)]
mod tests_errors;
