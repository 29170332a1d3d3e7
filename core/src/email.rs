//! Email: templates (`content/emails/<name>/<locale>.md`, a `subject:` front matter then markdown) rendered with
//! pulldown-cmark into HTML plus a plain-text alternative, and a [`Mailer`] that sends over SMTP (lettre) or, on the
//! embedded tier, writes `.eml` files to the outbox (the log says only which file: a login link is a credential and
//! never goes to the log). Sending is bounded in time and every
//! outcome is counted in `plaza_emails_total`; failures are errors for the caller to log, never panics.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

/// The locale every template has and every other locale falls back to.
pub const DEFAULT_LOCALE: &str = "en";

/// Longest time one send may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Checks that `source` is a well-formed template (front matter with a subject, then a body).
pub fn check_template(source: &str) -> Result<(), String> {
    Template::parse(source).map(|_| ())
}

/// An email failure.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// A template is missing or malformed.
    #[error("email template {0}")]
    Template(String),
    /// The message could not be built (bad address).
    #[error("cannot build the email: {0}")]
    Build(String),
    /// The SMTP server or the outbox refused it, or it timed out.
    #[error("cannot send the email: {0}")]
    Send(String),
}

/// A parsed template.
#[derive(Debug, Clone)]
struct Template {
    subject: String,
    body: String,
}

impl Template {
    fn parse(source: &str) -> Result<Self, String> {
        let rest = source
            .strip_prefix("---\n")
            .ok_or("must start with a --- front matter line")?;
        let (front, body) = rest
            .split_once("\n---\n")
            .ok_or("front matter must end with a --- line")?;
        let subject = front
            .lines()
            .find_map(|l| l.strip_prefix("subject:"))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or("front matter has no subject")?;
        Ok(Self {
            subject,
            body: body.trim().to_owned(),
        })
    }
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Template name, for logs and metrics.
    pub template: String,
    /// Subject line.
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

/// Every template, by name and locale.
#[derive(Debug, Clone)]
pub struct Templates {
    templates: HashMap<(String, String), Template>,
}

impl Templates {
    /// Templates from their sources: name → locale → front matter + markdown (a content bundle's `emails`).
    pub fn from_sources(
        sources: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Self, EmailError> {
        let mut templates = HashMap::new();
        for (name, by_locale) in sources {
            for (locale, source) in by_locale {
                let template = Template::parse(source)
                    .map_err(|e| EmailError::Template(format!("{name}/{locale}: {e}")))?;
                templates.insert((name.clone(), locale.clone()), template);
            }
        }
        Ok(Self { templates })
    }

    /// The templates of the content bundled into the binary.
    pub fn bundled() -> Result<Self, EmailError> {
        let files = crate::content::ContentFiles::bundled();
        // The locales the bundled content is written in.
        let locales = [DEFAULT_LOCALE.to_owned(), "es".to_owned()];
        let built = crate::content::build(&files, &locales)
            .map_err(|e| EmailError::Template(e.to_string()))?;
        Self::from_sources(&built.bundle.emails)
    }

    /// Renders template `name` in `locale` (falling back to English) with `{{key}}` placeholders filled.
    pub fn render(
        &self,
        name: &str,
        locale: &str,
        values: &[(&str, &str)],
    ) -> Result<Rendered, EmailError> {
        let template = self
            .templates
            .get(&(name.to_owned(), locale.to_owned()))
            .or_else(|| {
                self.templates
                    .get(&(name.to_owned(), DEFAULT_LOCALE.to_owned()))
            })
            .ok_or_else(|| EmailError::Template(format!("{name} does not exist")))?;
        let fill = |text: &str, escape: fn(&str) -> String| {
            values.iter().fold(text.to_owned(), |acc, (key, value)| {
                acc.replace(&format!("{{{{{key}}}}}"), &escape(value))
            })
        };
        let markdown = fill(&template.body, escape_markdown);
        Ok(Rendered {
            template: name.to_owned(),
            subject: fill(&template.subject, str::to_owned),
            html: crate::content::markdown::render(&markdown),
            text: plain_text(&markdown),
        })
    }
}

/// The plain-text part of an email: its markdown read as a person would (no `[…](…)`, `**`, or backslash escapes;
/// a link becomes its text followed by its URL on a line of its own).
pub fn plain_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut out = String::new();
    let mut links: Vec<String> = Vec::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Text(text) | Event::Code(text) => out.push_str(&text),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.into_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = links.pop()
                    && !out.ends_with(url.as_str())
                {
                    out.push_str(":\n");
                    out.push_str(&url);
                }
            }
            Event::Start(Tag::Item) => out.push_str("- "),
            Event::End(TagEnd::Item) => out.push('\n'),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::List(_),
            ) => {
                while out.ends_with('\n') {
                    out.pop();
                }
                out.push_str("\n\n");
            }
            Event::Rule => out.push_str("----\n\n"),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// "`minutes` minutes" in words in `locale` (English for locales plaza has no words for): "1 minute", "2 hours"…
pub fn duration_words(minutes: u64, locale: &str) -> String {
    let (count, unit) = if minutes >= 60 && minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    let word = match (locale, unit, count == 1) {
        ("es", "hour", true) => "hora",
        ("es", "hour", false) => "horas",
        ("es", _, true) => "minuto",
        ("es", _, false) => "minutos",
        (_, "hour", true) => "hour",
        (_, "hour", false) => "hours",
        (_, _, true) => "minute",
        (_, _, false) => "minutes",
    };
    format!("{count} {word}")
}

/// Backslash-escapes ASCII punctuation so a value (a name) is shown literally, never as markup or HTML.
fn escape_markdown(value: &str) -> String {
    value
        .chars()
        .fold(String::with_capacity(value.len()), |mut out, c| {
            // URLs stay usable inside link destinations: only characters that could break out are escaped there.
            if c.is_ascii_punctuation()
                && !matches!(
                    c,
                    ':' | '/' | '.' | '-' | '_' | '?' | '=' | '#' | '%' | '@' | '~'
                )
            {
                out.push('\\');
            }
            out.push(c);
            out
        })
}

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// The pooled transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// Sender.
        from: Mailbox,
        /// Reply-To.
        reply_to: Option<Mailbox>,
    },
    /// The embedded tier: `.eml` files in a folder (the log names the file, never the text).
    Outbox {
        /// The folder.
        dir: PathBuf,
        /// Sender.
        from: Mailbox,
        /// Reply-To.
        reply_to: Option<Mailbox>,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { .. } => f.write_str("Mailer::Smtp"),
            Self::Outbox { dir, .. } => write!(f, "Mailer::Outbox({})", dir.display()),
        }
    }
}

fn mailbox(value: &str) -> Result<Mailbox, EmailError> {
    value
        .parse()
        .map_err(|e| EmailError::Build(format!("{value:?}: {e}")))
}

impl Mailer {
    /// SMTP when `SMTP_URL` is set, the outbox otherwise.
    pub fn from_config(config: &Config) -> Result<Self, EmailError> {
        let from = mailbox(&config.mail_from)?;
        let reply_to = config.mail_reply_to.as_deref().map(mailbox).transpose()?;
        match &config.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| EmailError::Build(format!("SMTP_URL: {e}")))?
                    .timeout(Some(SEND_TIMEOUT))
                    .build();
                Ok(Self::Smtp {
                    transport,
                    from,
                    reply_to,
                })
            }
            None => Ok(Self::Outbox {
                dir: config.outbox_dir.clone(),
                from,
                reply_to,
            }),
        }
    }

    /// Sends `email` to `to`, within a time limit, counting the outcome.
    pub async fn send(&self, to: &str, email: &Rendered) -> Result<(), EmailError> {
        let outcome = tokio::time::timeout(SEND_TIMEOUT, self.deliver(to, email))
            .await
            .unwrap_or_else(|_| Err(EmailError::Send("timed out".into())));
        let label = if outcome.is_ok() { "sent" } else { "failed" };
        metrics::counter!("plaza_emails_total", "template" => email.template.clone(), "outcome" => label).increment(1);
        outcome
    }

    async fn deliver(&self, to: &str, email: &Rendered) -> Result<(), EmailError> {
        let (from, reply_to) = match self {
            Self::Smtp { from, reply_to, .. } | Self::Outbox { from, reply_to, .. } => {
                (from, reply_to)
            }
        };
        let mut builder = Message::builder()
            .from(from.clone())
            .to(mailbox(to)?)
            .subject(&email.subject);
        if let Some(reply_to) = reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| EmailError::Build(e.to_string()))?;
        match self {
            Self::Smtp { transport, .. } => transport
                .send(message)
                .await
                .map(drop)
                .map_err(|e| EmailError::Send(e.to_string())),
            Self::Outbox { dir, .. } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| EmailError::Send(format!("{}: {e}", dir.display())))?;
                let safe_to: String = to
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let name = format!(
                    "{}-{}-{safe_to}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
                    email.template
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted())
                    .await
                    .map_err(|e| EmailError::Send(format!("{}: {e}", path.display())))?;
                // Only where it went: the text holds the login link, a credential.
                tracing::info!(template = %email.template, path = %path.display(), "email written to the outbox");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_templates_parse_and_render_in_both_locales() {
        let templates = Templates::bundled().expect("bundled templates are valid");
        for locale in ["en", "es"] {
            let email = templates
                .render(
                    "login",
                    locale,
                    &[
                        ("name", "Ada"),
                        ("url", "https://p.example/api/auth/login/abc.def"),
                        ("minutes", "30"),
                    ],
                )
                .expect("renders");
            assert!(
                email
                    .html
                    .contains(r#"href="https://p.example/api/auth/login/abc.def""#),
                "{}",
                email.html
            );
            assert!(
                email
                    .text
                    .contains("https://p.example/api/auth/login/abc.def")
            );
            assert!(!email.subject.is_empty());
        }
    }

    #[test]
    fn the_text_part_reads_as_text_and_durations_as_words() {
        let templates = Templates::bundled().expect("bundled templates are valid");
        let email = templates
            .render(
                "login",
                "en",
                &[
                    ("name", "Ada *Byron*"),
                    ("url", "https://p.example/api/auth/login/abc.def"),
                    ("minutes", "1"),
                    ("expiry", &duration_words(1, "en")),
                ],
            )
            .expect("renders");
        assert!(email.text.contains("Hello Ada *Byron*,"), "{}", email.text);
        assert!(
            email
                .text
                .contains("Sign in to the plaza:\nhttps://p.example/api/auth/login/abc.def"),
            "{}",
            email.text
        );
        assert!(!email.text.contains("]("), "{}", email.text);
        assert!(
            email.text.contains("expires in 1 minute."),
            "{}",
            email.text
        );
        assert_eq!(duration_words(30, "en"), "30 minutes");
        assert_eq!(duration_words(60, "es"), "1 hora");
        assert_eq!(duration_words(1, "es"), "1 minuto");
        assert_eq!(duration_words(120, "fr"), "2 hours");
    }

    #[test]
    fn unknown_locales_fall_back_to_english() {
        let templates = Templates::bundled().expect("valid");
        let fr = templates
            .render("login-unknown", "fr", &[])
            .expect("falls back");
        let en = templates
            .render("login-unknown", "en", &[])
            .expect("english");
        assert_eq!(fr, en);
    }

    #[test]
    fn values_cannot_inject_markup() {
        let templates = Templates::bundled().expect("valid");
        let email = templates
            .render(
                "login",
                "en",
                &[
                    ("name", "<script>alert(1)</script> *bold*"),
                    ("url", "https://x.example/"),
                    ("minutes", "5"),
                ],
            )
            .expect("renders");
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(
            !email.html.contains("<em>") && !email.html.contains("<strong>"),
            "{}",
            email.html
        );
        assert!(
            email.text.contains("<script>alert(1)</script>"),
            "the text part shows the name as given"
        );
    }

    #[tokio::test]
    async fn the_outbox_keeps_a_complete_message_per_email() {
        let dir =
            std::env::temp_dir().join(format!("plaza-outbox-{}", uuid::Uuid::new_v4().simple()));
        let from = mailbox("plaza <noreply@example.org>").expect("from");
        let mailer = Mailer::Outbox {
            dir: dir.clone(),
            from,
            reply_to: None,
        };
        let email = Templates::bundled()
            .expect("valid")
            .render(
                "login",
                "es",
                &[
                    ("name", "Zoë"),
                    ("url", "https://p.example/x"),
                    ("minutes", "30"),
                ],
            )
            .expect("renders");
        mailer
            .send("zoë@example.org", &email)
            .await
            .expect("written");
        let files: Vec<_> = std::fs::read_dir(&dir).expect("outbox exists").collect();
        assert_eq!(files.len(), 1);
        let path = files[0].as_ref().expect("entry").path();
        let raw = std::fs::read_to_string(&path).expect("readable");
        assert!(
            raw.contains("multipart/alternative") && raw.contains("text/html"),
            "{raw}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
