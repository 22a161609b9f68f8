//! Scrubbing of the free text the runtime records for a call (error messages, rejection
//! reasons, guardrail failures): a sanitizer's promise covers them too. Two sources of
//! secrets are replaced with [`REDACTED`]:
//! - every string value (at least [`MIN_SECRET_LEN`] characters) that a request sanitizer
//!   removed or changed in that call (all of the payload's strings when the sanitizer failed);
//! - well-known secret shapes, a configurable list of regular expressions
//!   ([`DEFAULT_PATTERNS`]).
//!
//! Cost: nothing on a call that neither ran a sanitizer nor failed. A call whose sanitizer
//! ran pays one walk of the payload to collect what it removed; the patterns run only over
//! text that is actually recorded (error paths).

use regex::{Captures, Regex};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, RwLock};

use crate::error::{FlowError, FlowResult};

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter sanitized values are not scrubbed from text (they would mangle ordinary words).
pub const MIN_SECRET_LEN: usize = 4;

/// The secret shapes scrubbed by default. A pattern with a group named `secret` has only
/// that group replaced (the key name of a `key=value` pair stays readable).
pub const DEFAULT_PATTERNS: &[&str] = &[
    // Authorization header credentials.
    r"(?i)\b(?:bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
    // OpenAI / Anthropic style keys: sk-…, sk-proj-…, sk-ant-….
    r"\bsk-[A-Za-z0-9_-]{16,}",
    // key=value / key: value pairs whose name says secret (query strings, logs, configs).
    r#"(?i)\b(?:api[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|token|client[_-]?secret|secret|password|passwd|pwd|key)["']?\s*[=:]\s*["']?(?P<secret>[^\s&"',;]+)"#,
    // AWS access key ids.
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    // JSON Web Tokens.
    r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
];

struct Scrubber {
    patterns: Vec<(String, Regex)>,
    sanitized_values: bool,
}

fn compile(patterns: &[String]) -> FlowResult<Vec<(String, Regex)>> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Regex::new(p).map(|r| (p.clone(), r)).map_err(|e| {
                FlowError::invalid(
                    "patterns",
                    format!("pattern {i} ({p:?}) is not a valid regular expression: {e}"),
                )
            })
        })
        .collect()
}

fn state() -> &'static RwLock<Arc<Scrubber>> {
    static S: LazyLock<RwLock<Arc<Scrubber>>> = LazyLock::new(|| {
        let defaults: Vec<String> = DEFAULT_PATTERNS.iter().map(|p| p.to_string()).collect();
        RwLock::new(Arc::new(Scrubber {
            patterns: compile(&defaults).expect("default patterns compile"),
            sanitized_values: true,
        }))
    });
    &S
}

fn current() -> Arc<Scrubber> {
    Arc::clone(&state().read().unwrap_or_else(|e| e.into_inner()))
}

/// Replaces the configuration: `patterns` (`None`: [`DEFAULT_PATTERNS`]; empty: no shape is
/// scrubbed) and whether values removed by sanitizers are scrubbed. An invalid pattern
/// changes nothing and fails naming it.
pub fn configure(patterns: Option<Vec<String>>, sanitized_values: bool) -> FlowResult<()> {
    let patterns =
        patterns.unwrap_or_else(|| DEFAULT_PATTERNS.iter().map(|p| p.to_string()).collect());
    let compiled = compile(&patterns)?;
    *state().write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Scrubber {
        patterns: compiled,
        sanitized_values,
    });
    Ok(())
}

/// The patterns in force.
pub fn patterns() -> Vec<String> {
    current().patterns.iter().map(|(p, _)| p.clone()).collect()
}

/// Whether values removed by sanitizers are scrubbed.
pub fn sanitized_values() -> bool {
    current().sanitized_values
}

/// `text` with `secrets` (values a sanitizer removed in this call) and the configured secret
/// shapes replaced by [`REDACTED`]. Borrowed when nothing matched.
pub fn scrub<'t>(text: &'t str, secrets: &[Box<str>]) -> Cow<'t, str> {
    let s = current();
    let mut out = Cow::Borrowed(text);
    if s.sanitized_values {
        for secret in secrets {
            if out.contains(&**secret) {
                out = Cow::Owned(out.replace(&**secret, REDACTED));
            }
        }
    }
    for (_, re) in &s.patterns {
        if let Cow::Owned(replaced) = re.replace_all(&out, redact_match) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

/// Scrubs `text` in place.
pub fn scrub_in_place(text: &mut String, secrets: &[Box<str>]) {
    if let Cow::Owned(s) = scrub(text, secrets) {
        *text = s;
    }
}

fn redact_match(caps: &Captures<'_>) -> String {
    let whole = caps.get(0).expect("group 0");
    match caps.name("secret") {
        Some(secret) => {
            let text = whole.as_str();
            let (from, to) = (secret.start() - whole.start(), secret.end() - whole.start());
            format!("{}{REDACTED}{}", &text[..from], &text[to..])
        }
        None => REDACTED.to_string(),
    }
}

fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The string values of `before` (at least [`MIN_SECRET_LEN`] long) that occur nowhere in
/// `after`: what a sanitizer removed or changed. Longest first, so a secret that contains
/// another is replaced whole.
pub fn removed(before: &[&Value], after: &[&Value]) -> Box<[Box<str>]> {
    let mut kept = Vec::new();
    after.iter().for_each(|v| strings(v, &mut kept));
    let kept: HashSet<&str> = kept.into_iter().collect();
    let mut was = Vec::new();
    before.iter().for_each(|v| strings(v, &mut was));
    let mut gone: Vec<Box<str>> = was
        .into_iter()
        .filter(|s| s.chars().count() >= MIN_SECRET_LEN && !kept.contains(s))
        .map(Box::from)
        .collect();
    gone.sort_by_key(|s| std::cmp::Reverse(s.len()));
    gone.dedup();
    gone.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removed_strings_are_what_the_sanitizer_took_away() {
        let before = json!({"key": "hunter22", "q": "weather", "n": ["abc", "longer"]});
        let after = json!({"key": "[redacted]", "q": "weather", "n": ["abc"]});
        let gone = removed(&[&before], &[&after]);
        assert_eq!(&*gone, &[Box::from("hunter22"), Box::from("longer")]);
    }

    #[test]
    fn default_shapes_are_scrubbed_and_names_stay() {
        let text = "GET /v1?api_key=abc123&x=1 with Authorization: Bearer abcdefgh12345 \
                    sk-ant-api03-AAAAAAAAAAAAAAAAAAAA AKIAIOSFODNN7EXAMPLE \
                    eyJhbGciOiJI.eyJzdWIiOiIx.sig password: pw0rd";
        let out = scrub(text, &[]);
        for secret in [
            "abc123",
            "abcdefgh12345",
            "sk-ant-api03",
            "AKIAIOSFODNN7EXAMPLE",
            "eyJ",
            "pw0rd",
        ] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        assert!(out.contains("api_key=[REDACTED]&x=1"), "{out}");
        assert!(out.contains("Bearer [REDACTED]"), "{out}");
        assert!(matches!(scrub("monkey=banana", &[]), Cow::Borrowed(_)));
    }

    #[test]
    fn invalid_pattern_is_refused_naming_it() {
        let err = configure(Some(vec!["(".into()]), true).unwrap_err();
        assert!(err.to_string().starts_with("patterns: pattern 0"), "{err}");
        assert_eq!(patterns().len(), DEFAULT_PATTERNS.len());
    }
}
