//! The OpenAPI paths and schemas of the Face Search API, merged into the
//! server's document by [`crate::openapi`].

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi()]
/// The dialect's part of the document.
pub struct Doc;
