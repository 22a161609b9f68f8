//! LLM calls: managed (`begin` … `end`), streaming (`begin` … `chunk`* … `end`) and manual.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use uuid::Uuid;

use super::{
    CallSpan, Lazy, LazyOf, Outcome, close_span, merge_metadata, run_conditional, sanitized,
};
use crate::clock::{Timestamp, stamp};
use crate::dispatch::{emit, report, subscribers_for};
use crate::error::{FlowError, FlowResult};
use crate::event::{Event, Ids, JsonText, ScopeCategory};
use crate::family::Family;
use crate::llm::{
    AnnotatedLlmRequest, AnnotatedLlmResponse, LlmCodec, LlmRequest, LlmResponseCodec,
};
use crate::middleware::{LlmExecution, LlmStreamExecution};
use crate::registry::Entry;
use crate::scope::{ScopeNode, visible};
use crate::stream::chunk_summary;
use crate::types::LlmAttributes;

/// Options of an LLM call.
#[derive(Debug, Clone, Default)]
pub struct LlmOptions {
    /// Flags.
    pub attributes: LlmAttributes,
    /// Application data (see [`super::tool::ToolOptions::data`]).
    pub data: Value,
    /// Recorded on start and end events.
    pub metadata: Value,
    /// Model name, recorded in the category profile.
    pub model_name: Option<String>,
    /// Explicit start time.
    pub timestamp: Option<Timestamp>,
}

/// An open LLM call.
#[derive(Debug)]
pub struct LlmHandle {
    /// Span state.
    pub span: CallSpan,
    /// Flags.
    pub attributes: LlmAttributes,
    /// Model name.
    pub model_name: Option<String>,
}

/// A request converted from the binding's object on first use.
pub type LazyRequest<'a> = LazyOf<'a, LlmRequest>;

/// What `begin` hands back to the binding that drives the call.
pub struct LlmBegin {
    /// The open call.
    pub handle: Arc<LlmHandle>,
    /// The request to send, when intercepts or a codec changed it.
    pub request: Option<LlmRequest>,
    /// Execution intercepts, outermost first (empty for streams).
    pub execution: Arc<[Entry<LlmExecution>]>,
    /// Stream execution intercepts, outermost first (empty for non-streaming calls).
    pub stream_execution: Arc<[Entry<LlmStreamExecution>]>,
}

/// Runs the LLM conditional guardrails (see [`super::tool::check_guardrails`]).
pub fn check_guardrails(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    mark_name: Option<&str>,
    request: &mut LazyRequest<'_>,
    metadata: &Value,
) -> FlowResult<()> {
    check_guardrails_with(context, parent_uuid, mark_name, request, metadata, None)
}

/// [`check_guardrails`] for a call whose codec is known: the annotated request is offered
/// to native guardrails through [`super::call_info`] when one of them asked for it.
fn check_guardrails_with(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    mark_name: Option<&str>,
    request: &mut LazyRequest<'_>,
    metadata: &Value,
    codec: Option<&dyn LlmCodec>,
) -> FlowResult<()> {
    let entries = visible(context, |m| &m.llm_conditional);
    if entries.is_empty() {
        return Ok(());
    }
    let req = request.get()?;
    // A request the codec cannot read is left unannotated here; the call fails on it later
    // (at its start event or its intercepts), as it does without guardrails.
    let annotated = match codec {
        Some(c) if super::call_info::annotations_wanted() => c.decode(req).ok(),
        _ => None,
    };
    let _published = super::call_info::publish(super::call_info::CallInfo {
        context: Arc::clone(context),
        parent_uuid,
        metadata: metadata.clone(),
        llm_name: mark_name.map(Box::from),
        annotated,
    });
    let subs = subscribers_for(context);
    let start_data = JsonText::trusted_static(r#"{"kind":"llm_conditional_execution"}"#);
    let result = run_conditional(
        context,
        &subs,
        parent_uuid,
        metadata,
        &start_data,
        Family::LlmConditional.label(),
        &entries,
        |cb| cb(req),
    );
    if let (Err(FlowError::GuardrailRejected { reason, .. }), Some(name)) = (&result, mark_name) {
        super::emit_rejection_mark(context, parent_uuid, name, reason, metadata);
    }
    result
}

/// Runs the request-intercept chain. With a codec, intercepts see the decoded annotation;
/// afterwards a changed annotation is encoded over the *intercepted* request (so raw content
/// edits survive) and the intercepted headers are kept. Returns the new request, or `None`
/// when no intercept ran.
pub fn request_intercepts(
    context: &Arc<ScopeNode>,
    name: &str,
    request: &mut LazyRequest<'_>,
    codec: Option<&dyn LlmCodec>,
) -> FlowResult<Option<LlmRequest>> {
    let entries = visible(context, |m| &m.llm_request);
    if entries.is_empty() {
        return Ok(None);
    }
    let mut req = request.get()?.clone();
    let decoded = match codec {
        Some(c) => Some(
            c.decode(&req)
                .map_err(|error| codec_error(c.name(), "decode", error))?,
        ),
        None => None,
    };
    let mut annotated = decoded.clone();
    for e in entries.iter() {
        (req, annotated) =
            (e.callback)(name, req, annotated).map_err(|error| FlowError::Middleware {
                family: Family::LlmRequest.label(),
                name: e.name.to_string(),
                error: Box::new(error),
            })?;
        if e.break_chain {
            break;
        }
    }
    if let (Some(c), Some(a), Some(before)) = (codec, &annotated, &decoded) {
        if a != before {
            let headers = req.headers.clone();
            req = c
                .encode_edits(before, a, &req)
                .map_err(|error| codec_error(c.name(), "encode", error))?;
            req.headers = headers;
        }
    }
    *request = LazyOf::Ready(req.clone());
    Ok(Some(req))
}

fn codec_error(codec: &str, step: &str, error: crate::error::CallbackError) -> FlowError {
    FlowError::Middleware {
        family: if step == "encode" {
            "codec encode"
        } else {
            "codec decode"
        },
        name: codec.to_string(),
        error: Box::new(error),
    }
}

/// Opens the span: sanitize-request guardrails over a copy of the request, the annotation
/// decoded from the sanitized copy, then the start event. Refused under a scope that has
/// ended (a managed call checks its scope when it is created instead).
pub fn start(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    request: &mut LazyRequest<'_>,
    codec: Option<&dyn LlmCodec>,
    opts: LlmOptions,
) -> FlowResult<Arc<LlmHandle>> {
    context.require_open("an LLM call")?;
    start_with(context, parent_uuid, name, request, codec, None, opts)
}

/// [`start`], given the annotation already decoded from the unsanitized request (reused
/// when no sanitizer changes the request).
fn start_with(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    request: &mut LazyRequest<'_>,
    codec: Option<&dyn LlmCodec>,
    decoded: Option<AnnotatedLlmRequest>,
    opts: LlmOptions,
) -> FlowResult<Arc<LlmHandle>> {
    let handle = Arc::new(LlmHandle {
        span: CallSpan::new(
            context,
            parent_uuid,
            name,
            opts.data,
            opts.metadata,
            opts.timestamp,
        ),
        attributes: opts.attributes,
        model_name: opts.model_name,
    });
    let subs = subscribers_for(context);
    if !subs.is_empty() {
        let mut profile = handle.profile();
        let sanitizers = !visible(context, |m| &m.llm_sanitize_request).is_empty();
        let before = request.get()?;
        let data = match sanitize_request(context, Cow::Borrowed(before)) {
            Ok(sanitized) => {
                if let Cow::Owned(after) = &sanitized {
                    handle
                        .span
                        .remember_removed(removed_from_request(before, after));
                }
                if let (Some(a), false) = (decoded, sanitizers) {
                    profile.insert("annotated_request".into(), a.to_json());
                } else if let Some(c) = codec {
                    match c.decode(&sanitized) {
                        Ok(a) => {
                            profile.insert("annotated_request".into(), a.to_json());
                        }
                        Err(e) => report(&format!("codec '{}' decode", c.name()), &e),
                    }
                }
                sanitized.to_json_text()
            }
            Err(marker) => {
                let empty = LlmRequest::default();
                handle
                    .span
                    .remember_removed(removed_from_request(before, &empty));
                JsonText::from_value(&marker)
            }
        };
        let mut ev = handle.span.event(
            ScopeCategory::Start,
            handle.span.info.start,
            handle.attributes.labels(),
            "llm",
        );
        ev.category_profile = Some(Box::new(profile));
        ev.data = data;
        emit(&subs, ev);
    }
    Ok(handle)
}

/// The managed call's synchronous front half. A streaming call gets the `STREAMING` flag.
pub fn begin(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    request: &mut LazyRequest<'_>,
    codec: Option<&dyn LlmCodec>,
    mut opts: LlmOptions,
    streaming: bool,
) -> FlowResult<LlmBegin> {
    if streaming {
        opts.attributes.0 |= LlmAttributes::STREAMING.0;
    }
    check_guardrails_with(
        context,
        parent_uuid,
        Some(name),
        request,
        &opts.metadata,
        codec,
    )?;
    let new_request = request_intercepts(context, name, request, codec)?;
    // With no intercept the request has not been decoded yet. When the start event will
    // record the annotation, decode it now so that a payload the codec cannot read fails the
    // call before it starts (as it does when intercepts decode it); unobserved, it is not
    // decoded at all.
    let decoded = match (codec, &new_request) {
        (Some(c), None) if !subscribers_for(context).is_empty() => {
            Some(decode_annotated(c, request.get()?)?)
        }
        _ => None,
    };
    let handle = start_with(context, parent_uuid, name, request, codec, decoded, opts)?;
    let (execution, stream_execution) = if streaming {
        (
            Arc::from(Vec::new()),
            visible(context, |m| &m.llm_stream_execution),
        )
    } else {
        (
            visible(context, |m| &m.llm_execution),
            Arc::from(Vec::new()),
        )
    };
    Ok(LlmBegin {
        handle,
        request: new_request,
        execution,
        stream_execution,
    })
}

/// How the end event gets its annotated response.
pub enum ResponseAnnotation<'a> {
    /// None.
    None,
    /// Decoded from the sanitized response by this codec.
    Codec(&'a dyn LlmResponseCodec),
    /// Given by the caller.
    Given(Box<AnnotatedLlmResponse>),
}

/// Closes the span: sanitize-response guardrails, the annotation, the end event.
pub fn end(
    handle: &LlmHandle,
    outcome: Outcome<'_, '_>,
    annotation: ResponseAnnotation<'_>,
    metadata: Value,
    timestamp: Option<Timestamp>,
) -> FlowResult<()> {
    let span = &handle.span;
    let Some((subs, recorded)) = close_span(span, "LLM call", outcome)? else {
        return Ok(());
    };
    let ts = timestamp
        .unwrap_or_else(Timestamp::now)
        .after(span.info.start);
    let mut ev = span.event(ScopeCategory::End, ts, handle.attributes.labels(), "llm");
    let mut profile = handle.profile();
    ev.metadata = merge_metadata(&span.info.metadata, metadata).into();
    match recorded {
        Ok(response) => {
            let data = match sanitize_response(&span.context, Cow::Borrowed(response)) {
                Ok(sanitized) => {
                    let annotated = match annotation {
                        ResponseAnnotation::None => None,
                        ResponseAnnotation::Given(a) => Some(*a),
                        ResponseAnnotation::Codec(c) => match c.decode_response(&sanitized) {
                            Ok(a) => Some(a),
                            Err(e) => {
                                report(
                                    &format!("response codec '{}' decode_response", c.name()),
                                    &e,
                                );
                                None
                            }
                        },
                    };
                    if let Some(a) = annotated {
                        profile.insert("annotated_response".into(), a.to_json());
                    }
                    sanitized
                }
                Err(marker) => Cow::Owned(marker),
            };
            ev.data = JsonText::from_value(if data.is_null() {
                &span.info.data
            } else {
                &data
            });
        }
        Err(error) => {
            ev.data = JsonText::from_value(&span.info.data);
            ev.scope.as_mut().expect("scope event").error = Some(error);
        }
    }
    ev.category_profile = Some(Box::new(profile));
    emit(&subs, ev);
    Ok(())
}

/// Emits the `llm.chunk` mark for the `index`-th chunk of a stream (a compact summary, never
/// the chunk's content).
pub fn chunk(handle: &LlmHandle, index: u64, chunk: &mut Lazy<'_>) -> FlowResult<()> {
    let span = &handle.span;
    let subs = subscribers_for(&span.context);
    if subs.is_empty() {
        return Ok(());
    }
    let data = chunk_summary(index, chunk.get()?);
    let (timestamp, uuid) = stamp();
    emit(
        &subs,
        Event::mark(
            Arc::from("llm.chunk"),
            Ids {
                uuid,
                parent_uuid: Some(span.info.uuid),
                root_uuid: span.info.root_uuid,
            },
            timestamp,
            data.into(),
            JsonText::NULL,
        ),
    );
    Ok(())
}

impl LlmHandle {
    fn profile(&self) -> Map<String, Value> {
        let mut p = Map::new();
        if let Some(m) = &self.model_name {
            p.insert("model_name".into(), Value::String(m.clone()));
        }
        p
    }
}

/// The strings of `before` (headers and body) that `after` no longer holds.
fn removed_from_request(before: &LlmRequest, after: &LlmRequest) -> Box<[Box<str>]> {
    fn refs(r: &LlmRequest) -> Vec<&Value> {
        r.headers
            .values()
            .chain(std::iter::once(&r.content))
            .collect()
    }
    crate::scrub::removed(&refs(before), &refs(after))
}

fn sanitize_request<'r>(
    context: &Arc<ScopeNode>,
    req: Cow<'r, LlmRequest>,
) -> Result<Cow<'r, LlmRequest>, Value> {
    let entries = visible(context, |m| &m.llm_sanitize_request);
    sanitized(
        &entries,
        Family::LlmSanitizeRequest.label(),
        req,
        |cb, r| cb(r),
    )
}

fn sanitize_response<'v>(
    context: &Arc<ScopeNode>,
    v: Cow<'v, Value>,
) -> Result<Cow<'v, Value>, Value> {
    let entries = visible(context, |m| &m.llm_sanitize_response);
    sanitized(&entries, Family::LlmSanitizeResponse.label(), v, |cb, v| {
        cb(v)
    })
}

/// Decodes an annotated request with `codec` for the binding's `AnnotatedLLMRequest` type.
pub fn decode_annotated(
    codec: &dyn LlmCodec,
    request: &LlmRequest,
) -> FlowResult<AnnotatedLlmRequest> {
    codec
        .decode(request)
        .map_err(|error| codec_error(codec.name(), "decode", error))
}
