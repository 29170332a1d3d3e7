//! Markdown → safe HTML for pages and emails: the reference's `%widget%` lines become mount points, pulldown-cmark
//! renders CommonMark (+ tables, strikethrough), and ammonia sanitises the result.
//!
//! Sanitising policy (organisers may write raw HTML, but nothing that runs): ammonia's allow-list of formatting
//! tags and attributes, plus `id`/`class` everywhere (widget mount points, styling hooks), `details`/`summary`, and
//! `iframe` for video embeds with an `https:` source only. Removed: `script`/`style` (with their text), event
//! handlers, forms, and every URL scheme but http, https, mailto and tel (relative links stay). Links get
//! `rel="noopener noreferrer"`.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser};

static SANITISER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .add_tags(["details", "summary", "iframe", "figure", "figcaption"])
        .add_generic_attributes(["id", "class"])
        .add_tag_attributes(
            "iframe",
            [
                "src",
                "width",
                "height",
                "title",
                "allow",
                "allowfullscreen",
                "loading",
                "frameborder",
            ],
        )
        .add_tag_attributes("a", ["target"])
        .url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
        .attribute_filter(|element, attribute, value| {
            if element == "iframe" && attribute == "src" && !value.starts_with("https://") {
                None
            } else {
                Some(value.into())
            }
        });
    builder
});

/// Renders organiser markdown into sanitised HTML.
pub fn render(markdown: &str) -> String {
    let expanded = expand_widgets(markdown);
    let mut html = String::with_capacity(expanded.len() * 3 / 2);
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    pulldown_cmark::html::push_html(&mut html, Parser::new_ext(&expanded, options));
    sanitise(&html)
}

/// Sanitises HTML with the policy above.
pub fn sanitise(html: &str) -> String {
    SANITISER.clean(html).to_string()
}

/// The widget named by a line that is exactly `%name%` (letters, digits, `_`, `-`).
fn widget(line: &str) -> Option<&str> {
    let name = line.trim_end().strip_prefix('%')?.strip_suffix('%')?;
    crate::config::is_slug(name).then_some(name)
}

/// Replaces each `%name%` line outside fenced code with `<div id="name"></div>` as its own HTML block.
fn expand_widgets(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 64);
    let mut fence: Option<&str> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            _ => {}
        }
        match widget(line).filter(|_| fence.is_none()) {
            Some(name) => {
                out.push_str("\n<div id=\"");
                out.push_str(name);
                out.push_str("\"></div>\n\n");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widget_lines_become_mount_points() {
        let html = render("Intro\n%feature_video%\nMore text");
        assert!(html.contains("<p>Intro</p>"), "{html}");
        assert!(html.contains("<div id=\"feature_video\"></div>"), "{html}");
        assert!(html.contains("<p>More text</p>"), "{html}");
    }

    #[test]
    fn widgets_are_not_expanded_in_code_or_inside_text() {
        let html = render("```\n%calendar%\n```\n\nSave 50% or %more% today");
        assert!(!html.contains("id=\"calendar\""), "{html}");
        assert!(html.contains("%calendar%"), "{html}");
        assert!(html.contains("%more%"), "{html}");
        assert_eq!(widget("%bad name%"), None);
        assert_eq!(widget("%%"), None);
    }

    #[test]
    fn scripts_handlers_and_javascript_urls_are_removed() {
        let html = render(
            "<script>alert('x')</script>\n\n<img src=\"/a.png\" onerror=\"alert(1)\">\n\n\
             [click](javascript:alert(1)) <a href=\"https://ok.example\" onclick=\"x()\">ok</a>\n\n\
             <iframe src=\"http://insecure.example\"></iframe><iframe src=\"https://player.vimeo.com/video/1\"></iframe>\n\n\
             <style>body{display:none}</style><form action=\"/x\"><input name=\"q\"></form>",
        );
        for banned in [
            "<script",
            "alert('x')",
            "onerror",
            "onclick",
            "javascript:",
            "http://insecure",
            "<style",
            "display:none",
            "<form",
            "<input",
        ] {
            assert!(!html.contains(banned), "{banned} survived: {html}");
        }
        assert!(html.contains("href=\"https://ok.example\""), "{html}");
        assert!(
            html.contains("src=\"https://player.vimeo.com/video/1\""),
            "{html}"
        );
        assert!(html.contains("rel=\"noopener noreferrer\""), "{html}");
    }

    #[test]
    fn tables_and_details_render() {
        let html =
            render("| a | b |\n|---|---|\n| 1 | 2 |\n\n<details><summary>Q</summary>A</details>");
        assert!(
            html.contains("<table>") && html.contains("<td>1</td>"),
            "{html}"
        );
        assert!(
            html.contains("<details><summary>Q</summary>A</details>"),
            "{html}"
        );
    }
}
