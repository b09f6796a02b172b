//! Any bytes as the JSON body of every endpoint, and as a query string,
//! through exactly the parsing and validation the server runs before any
//! model: JSON with field-naming errors, the image input and its lenient
//! base64, `maxFaceCount`, `faceMatchThreshold`, collection ids and
//! descriptions, embeddings, multipart bodies. Each must give a value or a typed error with
//! a message; never a panic.
#![no_main]

use facecore_wire::{
    CollectionRequest, CompareRequest, FaceRequest, ImageRequest, ImageSource, WireError,
    decode_base64, embedding, image_source, parse_json, query_param, required_collection_id,
};
use libfuzzer_sys::fuzz_target;

fn said(e: &WireError) {
    assert!(
        !e.to_string().is_empty(),
        "an error without a message: {e:?}"
    );
}

fn check_source(source: Result<ImageSource, WireError>) {
    match source {
        Ok(ImageSource::Bytes(_)) => {}
        Ok(ImageSource::Url(u)) => assert!(!u.trim().is_empty() && u.trim() == u),
        Err(e) => said(&e),
    }
}

fuzz_target!(|data: &[u8]| {
    // detect-faces, get-face-embeddings
    match parse_json::<ImageRequest>(data) {
        Ok(mut r) => {
            if let Ok(n) = r.max_faces() {
                assert!((1..=10).contains(&n));
            }
            check_source(r.source());
        }
        Err(e) => said(&e),
    }
    // compare-face-embeddings: the server's one-pass reader must answer as
    // serde does, value for value (as the f32 the server uses) and error
    // for error.
    let serde = parse_json::<CompareRequest>(data);
    match (&serde, CompareRequest::parse(data)) {
        (Ok(a), Ok(b)) => {
            for (x, y) in [
                (&a.embedding1, &b.embedding1),
                (&a.embedding2, &b.embedding2),
            ] {
                assert_eq!(x.as_ref().map(Vec::len), y.as_ref().map(Vec::len));
                for (p, q) in x.iter().flatten().zip(y.iter().flatten()) {
                    #[allow(clippy::cast_possible_truncation)]
                    let (p, q) = (*p as f32, *q as f32);
                    // serde_json's own parser may round a long number one
                    // step differently; nothing coarser is allowed.
                    assert!(
                        p == q
                            || (p - q).abs() <= p.abs().max(q.abs()) * 2.0 * f32::EPSILON
                            || p.abs().max(q.abs()) < f32::MIN_POSITIVE,
                        "{p} vs {q}"
                    );
                }
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (a, b) => panic!("serde {a:?}, one-pass reader {b:?}"),
    }
    match serde {
        Ok(r) => {
            for (field, value) in [("embedding1", &r.embedding1), ("embedding2", &r.embedding2)] {
                let dim = value.as_ref().map_or(512, Vec::len).max(1);
                match embedding(field, value.as_ref(), dim) {
                    Ok(v) => assert!(v.iter().all(|x| x.is_finite()) && v.len() == dim),
                    Err(e) => said(&e),
                }
            }
        }
        Err(e) => said(&e),
    }
    // collection create / update
    match parse_json::<CollectionRequest>(data) {
        Ok(r) => {
            let _ = facecore_store::collections::validate_description(r.description_to_update());
            if let Ok(id) = required_collection_id(r.collection_id) {
                let _ = facecore_store::collections::validate_collection_id(&id);
            }
        }
        Err(e) => said(&e),
    }
    // face index / search / search-or-index
    match parse_json::<FaceRequest>(data) {
        Ok(r) => {
            if let Ok(t) = r.threshold() {
                assert!((0..=100).contains(&t));
            }
            check_source(image_source(r.image));
            if let Ok(id) = required_collection_id(r.collection_id) {
                let _ = facecore_store::collections::validate_collection_id(&id);
            }
        }
        Err(e) => said(&e),
    }
    // The raw bytes as image.bytes, and as a query string.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = decode_base64(text) {
            said(&e);
        }
        for name in ["collectionId", "faceId"] {
            let _ = query_param(Some(text), name);
        }
    }
    // The raw bytes as a multipart body (CompreFace uploads), with the
    // boundary given and read from the body: every part must lie inside
    // the body.
    for content_type in ["multipart/form-data; boundary=b", "multipart/form-data"] {
        match facecore_wire::multipart::parse(Some(content_type), data) {
            Ok(parts) => {
                assert!(parts.len() <= facecore_wire::multipart::MAX_PARTS);
                for part in parts {
                    assert!(part.data.len() <= data.len());
                }
            }
            Err(e) => said(&e),
        }
    }
});
