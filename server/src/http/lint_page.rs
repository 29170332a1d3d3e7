//! The schedule lint report page (admins only): what the import left out of the public schedule and why, and what
//! it could not publish properly, grouped by rule. Every value from Pretalx is HTML-escaped; the page loads
//! nothing from third parties.

use std::fmt::Write as _;

use plaza_core::model::schedule::LintIssue;

use crate::snapshot::Snapshot;

/// Escapes the five HTML-significant characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Renders the report of `snapshot`.
pub fn render(snapshot: &Snapshot) -> String {
    let lint = &snapshot.schedule.lint;
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Schedule report</title><style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
         padding:0 1rem;color:#1a1a1a}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;\
         padding:.3rem .5rem;text-align:left;vertical-align:top}.blocking{color:#a40000}</style></head><body>",
    );
    let _ = write!(
        html,
        "<h1>Schedule report</h1><p>Version {} · {} sessions · {} issues</p>",
        snapshot.version,
        snapshot.schedule.sessions.len(),
        lint.issues.len()
    );
    if lint.issues.is_empty() && lint.skipped_by_state.is_empty() && lint.speakers_left_out == 0 {
        html.push_str("<p>🎉 Everything looks good!</p>");
    }
    let mut rules: Vec<&LintIssue> = lint.issues.iter().collect();
    rules.sort_by_key(|i| (!i.blocks_publishing, format!("{:?}", i.rule)));
    let mut current = None;
    for issue in rules {
        let rule = format!("{:?}", issue.rule);
        if current.as_deref() != Some(rule.as_str()) {
            if current.is_some() {
                html.push_str("</tbody></table>");
            }
            let class = if issue.blocks_publishing {
                " class=\"blocking\""
            } else {
                ""
            };
            let _ = write!(
                html,
                "<h2{class}>{}</h2><table><thead><tr><th>Session</th><th>Submission</th><th>Problem</th></tr></thead><tbody>",
                escape(&rule)
            );
            current = Some(rule);
        }
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(issue.session_id.as_deref().unwrap_or("")),
            escape(issue.submission.as_deref().unwrap_or("")),
            escape(&issue.message)
        );
    }
    if current.is_some() {
        html.push_str("</tbody></table>");
    }
    if !lint.skipped_by_state.is_empty() {
        html.push_str("<h2>Left out: not confirmed, by state</h2><ul>");
        for (state, count) in &lint.skipped_by_state {
            let _ = write!(html, "<li>{}: {count}</li>", escape(state));
        }
        html.push_str("</ul>");
    }
    if lint.speakers_left_out > 0 {
        let _ = write!(
            html,
            "<h2>Left out: speakers</h2><p>{} speakers have no public session.</p>",
            lint.speakers_left_out
        );
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape(r#""><script>alert('x')</script>&"#),
            "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }
}
