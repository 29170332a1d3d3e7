//! The shared upstream client pieces that the Pretalx and Tito clients are built on: the retry policy (`retry`),
//! the one-GET transport (`transport`) and decoding helpers for error messages (`decode`). Nothing here knows
//! either API: each client adds its own headers, pagination and validation over these.

pub(crate) mod decode;
pub mod retry;
pub mod transport;
