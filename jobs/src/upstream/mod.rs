//! The shared upstream client that the Pretalx and Tito clients are built on: the retrying GET (`get`), its retry
//! policy (`retry`), the one-GET transport with a bounded body (`transport`) and decoding helpers for error
//! messages (`decode`). Nothing here knows either API: each client adds its own headers, pagination, validation
//! and error wording over these.

pub(crate) mod decode;
pub mod get;
pub mod retry;
pub mod transport;
