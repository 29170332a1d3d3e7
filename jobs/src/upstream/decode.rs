//! Helpers shared by the upstream API clients (Pretalx, Tito): decoding a JSON value with the path of the field
//! that failed, and short excerpts of response bodies for error messages.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes `value`; on failure returns the failing field's path (empty for the object itself) and the message.
pub fn decode_at<O: DeserializeOwned>(value: Value) -> Result<O, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = match error.path().to_string() {
            root if root == "." => String::new(),
            path => path,
        };
        (path, error.inner().to_string())
    })
}

/// ``at `slots`: `` before a field error, nothing for an error of the object itself.
pub fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("at `{path}`: ")
    }
}

/// The first 200 characters of a body, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}
