//! Size limits on what Pretalx sends (README "Schedule" lists them). Per field, the mapping cuts an over-long text
//! and reports it (`truncated` in the lint report); a URL over its limit is dropped, never cut. Per import, the
//! client refuses a response or a whole import over its byte and object limits before anything is mapped, so one
//! speaker's 40 MB abstract can neither be published nor blow up the api pods' snapshots.

/// Session title, in characters (Pretalx's own form allows 200).
pub const TITLE_CHARS: usize = 300;
/// Abstract and description, each, in characters.
pub const TEXT_CHARS: usize = 20_000;
/// Speaker biography, in characters.
pub const BIOGRAPHY_CHARS: usize = 10_000;
/// One answer to a configured question (links, recommendations, affiliation), in characters.
pub const ANSWER_CHARS: usize = 2_000;
/// Names: speakers, tags, rooms, tracks, session types, break texts, resource descriptions, in characters.
pub const NAME_CHARS: usize = 200;
/// A URL (link, resource, image, avatar), in characters; longer ones are dropped.
pub const URL_CHARS: usize = 2_000;

/// One HTTP response body, in bytes (the transport stops reading beyond it).
pub const RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// All responses of one import together, in bytes.
pub const IMPORT_BYTES: u64 = 256 * 1024 * 1024;
/// All objects of one import together (submissions, speakers, slots, answers…).
pub const IMPORT_OBJECTS: usize = 200_000;

/// `text` cut to `limit` characters (never inside a character); `None` when it fits.
pub fn cut(text: &str, limit: usize) -> Option<String> {
    text.char_indices()
        .nth(limit)
        .map(|(end, _)| text[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_counts_characters_not_bytes() {
        assert_eq!(cut("héllo", 5), None);
        assert_eq!(cut("héllo", 2).as_deref(), Some("hé"));
        assert_eq!(cut("", 0), None);
    }
}
