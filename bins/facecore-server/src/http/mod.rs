//! HTTP plumbing every dialect shares: responses, request bodies under
//! their limits, request ids, credentials from headers, cross-origin (CORS)
//! headers, and the admission queue in front of inference. Nothing here knows a dialect's wire format.

pub mod admission;
pub mod auth;
pub mod body;
pub mod cors;
pub mod request_id;
pub mod response;
