//! The managed-call pipeline as synchronous steps, shared by every binding:
//! conditional guardrails → request intercepts → sanitize + start event → (the binding runs
//! the execution-intercept chain and the callable) → sanitize + end event.

pub mod call_info;
pub mod llm;
pub mod llm_stream;
pub mod tool;

use serde_json::Value;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

use crate::clock::{Timestamp, stamp, stamp_at};
use crate::dispatch::{emit, subscribers_for};
use crate::error::{CallbackError, FlowError, FlowResult};
use crate::event::{ErrorInfo, Event, Ids, JsonText, ScopeCategory, json_str};
use crate::middleware::Subscriber;
use crate::registry::Entry;
use crate::scope::{ScopeNode, SpanInfo};

/// A value converted from the binding's object only when some step reads it.
pub enum LazyOf<'a, T> {
    /// Converted.
    Ready(T),
    /// Converted on first use.
    Pending(Box<dyn FnOnce() -> FlowResult<T> + 'a>),
}

/// A JSON payload converted on first use.
pub type Lazy<'a> = LazyOf<'a, Value>;

impl<'a, T> LazyOf<'a, T> {
    /// Wraps a conversion that runs at most once.
    pub fn pending(f: impl FnOnce() -> FlowResult<T> + 'a) -> Self {
        Self::Pending(Box::new(f))
    }

    /// The value, converting it now if needed.
    pub fn get(&mut self) -> FlowResult<&T> {
        if let Self::Pending(_) = self {
            let placeholder = Self::Pending(Box::new(|| unreachable!("conversion already taken")));
            let Self::Pending(f) = std::mem::replace(self, placeholder) else {
                unreachable!()
            };
            match f() {
                Ok(v) => *self = Self::Ready(v),
                Err(e) => {
                    // Asked again, a failed conversion fails the same way (never panics).
                    let again = e.clone();
                    *self = Self::Pending(Box::new(move || Err(again)));
                    return Err(e);
                }
            }
        }
        match self {
            Self::Ready(v) => Ok(v),
            Self::Pending(_) => unreachable!(),
        }
    }

    /// Replaces the value (after an intercept produced a new one).
    pub fn set(&mut self, v: T) {
        *self = Self::Ready(v);
    }
}

/// What an end event records on success or failure.
pub enum Outcome<'a, 'b> {
    /// The call returned this (converted lazily).
    Ok(&'b mut Lazy<'a>),
    /// The call failed.
    Err(ErrorInfo),
}

/// Shared state of a tool or LLM call span.
#[derive(Debug)]
pub struct CallSpan {
    /// Identity and payload.
    pub info: SpanInfo,
    /// The scope whose middleware and subscribers apply to this call.
    pub context: Arc<ScopeNode>,
    ended: AtomicBool,
    /// What the request sanitizers removed, scrubbed from the text recorded on failure.
    secrets: OnceLock<Box<[Box<str>]>>,
}

impl CallSpan {
    fn new(
        context: &Arc<ScopeNode>,
        parent_uuid: Uuid,
        name: &str,
        data: Value,
        metadata: Value,
        start: Option<Timestamp>,
    ) -> Self {
        let (start, uuid) = stamp_at(start);
        Self {
            info: SpanInfo {
                uuid,
                name: Arc::from(name),
                parent_uuid: Some(parent_uuid),
                root_uuid: context.info.root_uuid,
                data,
                metadata,
                start,
            },
            context: Arc::clone(context),
            ended: AtomicBool::new(false),
            secrets: OnceLock::new(),
        }
    }

    /// Records what a request sanitizer removed (see [`crate::scrub::removed`]).
    fn remember_removed(&self, secrets: Box<[Box<str>]>) {
        if !secrets.is_empty() {
            let _ = self.secrets.set(secrets);
        }
    }

    /// `text` scrubbed of this call's sanitized values and the configured secret shapes.
    pub fn scrub(&self, text: &mut String) {
        crate::scrub::scrub_in_place(text, self.secrets.get().map_or(&[], |s| s));
    }

    /// Whether the end event has been emitted.
    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    fn mark_ended(&self, what: &str) -> FlowResult<()> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return Err(FlowError::Scope(format!(
                "{what} '{}' ({}) has already ended",
                self.info.name, self.info.uuid
            )));
        }
        Ok(())
    }

    fn event(
        &self,
        cat: ScopeCategory,
        ts: Timestamp,
        attrs: Vec<&'static str>,
        category: &'static str,
    ) -> Event {
        let ids = Ids {
            uuid: self.info.uuid,
            parent_uuid: self.info.parent_uuid,
            root_uuid: self.info.root_uuid,
        };
        let name = Arc::clone(&self.info.name);
        let mut ev = Event::scope(cat, attrs, Cow::Borrowed(category), name, ids, ts);
        ev.category_profile = Some(Box::default());
        ev.metadata = JsonText::from_value(&self.info.metadata);
        ev
    }
}

/// Closes a call span: converts a success payload (only when a subscriber will read it)
/// *before* marking the span ended, so a payload that fails to convert leaves the span open
/// for a corrected end. Returns the subscribers and what to record, or `None` when nothing
/// is subscribed.
type Closed<'v> = (Arc<[Entry<Subscriber>]>, Result<&'v Value, ErrorInfo>);

fn close_span<'v>(
    span: &CallSpan,
    what: &str,
    outcome: Outcome<'_, 'v>,
) -> FlowResult<Option<Closed<'v>>> {
    if span.is_ended() {
        return span.mark_ended(what).map(|_| None);
    }
    let subs = subscribers_for(&span.context);
    let recorded = if subs.is_empty() {
        None
    } else {
        Some(match outcome {
            Outcome::Ok(v) => Ok(v.get()?),
            Outcome::Err(mut e) => {
                span.scrub(&mut e.message);
                Err(e)
            }
        })
    };
    span.mark_ended(what)?;
    Ok(recorded.map(|r| (subs, r)))
}

/// Shallow-merges end metadata over the handle's.
fn merge_metadata(base: &Value, extra: Value) -> Value {
    match (base, extra) {
        (b, Value::Null) => b.clone(),
        (Value::Object(b), Value::Object(e)) => {
            let mut m = b.clone();
            m.extend(e);
            Value::Object(m)
        }
        (_, e) => e,
    }
}

/// The marker an event carries instead of a payload whose sanitizer failed (fail closed).
pub fn redaction_marker(guardrail: &str) -> Value {
    Value::String(format!(
        "[redacted: sanitize guardrail '{guardrail}' failed]"
    ))
}

/// Runs `entries` (sanitize guardrails of one family) over `v`, copying it only when one is
/// registered. A sanitizer that fails is reported and its marker replaces the whole payload
/// (fail closed: the raw value is never recorded).
fn sanitized<'v, T: Clone, F>(
    entries: &[Entry<F>],
    family: &str,
    v: Cow<'v, T>,
    call: impl Fn(&F, T) -> Result<T, CallbackError>,
) -> Result<Cow<'v, T>, Value> {
    if entries.is_empty() {
        return Ok(v);
    }
    let mut v = v.into_owned();
    for e in entries {
        match call(&e.callback, v) {
            Ok(nv) => v = nv,
            Err(err) => {
                // A sanitizer's message and traceback may quote the payload it choked on:
                // only its type is reported.
                let withheld = CallbackError::new(
                    err.kind,
                    "[message withheld: it may quote the payload being sanitized]",
                );
                crate::dispatch::report(&format!("{family} '{}'", e.name), &withheld);
                return Err(redaction_marker(&e.name));
            }
        }
    }
    Ok(Cow::Owned(v))
}

/// Emits a guardrail scope pair around `check` and turns its verdict into a result.
#[allow(clippy::too_many_arguments)]
fn run_conditional<T: Clone>(
    context: &Arc<ScopeNode>,
    subs: &[Entry<Subscriber>],
    parent_uuid: Uuid,
    metadata: &Value,
    start_data: &JsonText,
    family: &'static str,
    entries: &[Entry<T>],
    check: impl Fn(&T) -> Result<Option<String>, CallbackError>,
) -> FlowResult<()> {
    // Unobserved, a guardrail step builds no event: no ids, no clock, no JSON.
    let observed = !subs.is_empty();
    let metadata = if observed {
        JsonText::from_value(metadata)
    } else {
        JsonText::NULL
    };
    for e in entries {
        let (start, uuid) = if observed {
            stamp()
        } else {
            (Timestamp(0), Uuid::nil())
        };
        let ids = Ids {
            uuid,
            parent_uuid: Some(parent_uuid),
            root_uuid: context.info.root_uuid,
        };
        let guard_event = |cat, ts, data: JsonText| {
            let name = Arc::clone(&e.name);
            let mut ev = Event::scope(cat, Vec::new(), Cow::Borrowed("guardrail"), name, ids, ts);
            ev.data = data;
            ev.metadata = metadata.clone();
            ev
        };
        if !subs.is_empty() {
            emit(
                subs,
                guard_event(ScopeCategory::Start, start, start_data.clone()),
            );
        }
        let verdict = check(&e.callback);
        let end_data = match &verdict {
            Ok(None) => JsonText::trusted_static(r#"{"allowed":true,"rejected":false}"#),
            Ok(Some(r)) => JsonText::trusted(format!(
                r#"{{"allowed":false,"rejected":true,"rejection_reason":{}}}"#,
                json_str(&crate::scrub::scrub(r, &[]))
            )),
            Err(err) => JsonText::trusted(format!(
                r#"{{"allowed":false,"error":{}}}"#,
                json_str(&crate::scrub::scrub(&err.to_string(), &[]))
            )),
        };
        if !subs.is_empty() {
            emit(
                subs,
                guard_event(ScopeCategory::End, Timestamp::now().after(start), end_data),
            );
        }
        match verdict {
            Ok(None) => {}
            Ok(Some(reason)) => {
                return Err(FlowError::GuardrailRejected {
                    guardrail: e.name.to_string(),
                    reason,
                });
            }
            Err(error) => {
                return Err(FlowError::Middleware {
                    family,
                    name: e.name.to_string(),
                    error: Box::new(error),
                });
            }
        }
    }
    Ok(())
}

/// Emits the mark that records a rejected call.
fn emit_rejection_mark(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    reason: &str,
    metadata: &Value,
) {
    let subs = subscribers_for(context);
    if subs.is_empty() {
        return;
    }
    let (timestamp, uuid) = stamp();
    emit(
        &subs,
        Event::mark(
            Arc::from(name),
            Ids {
                uuid,
                parent_uuid: Some(parent_uuid),
                root_uuid: context.info.root_uuid,
            },
            timestamp,
            serde_json::json!({"rejected": true, "rejection_reason": crate::scrub::scrub(reason, &[])})
                .into(),
            JsonText::from_value(metadata),
        ),
    );
}
