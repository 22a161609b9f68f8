//! Tool calls: managed (`begin` … `end`/`fail`) and manual (`start` … `end`).

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use uuid::Uuid;

use super::{CallSpan, Lazy, Outcome, close_span, merge_metadata, run_conditional, sanitized};
use crate::clock::Timestamp;
use crate::dispatch::{emit, subscribers_for};
use crate::error::{FlowError, FlowResult};
use crate::event::JsonText;
use crate::event::ScopeCategory;
use crate::family::Family;
use crate::middleware::ToolExecution;
use crate::registry::Entry;
use crate::scope::{ScopeNode, visible};
use crate::types::ToolAttributes;

/// Options of a tool call.
#[derive(Debug, Clone, Default)]
pub struct ToolOptions {
    /// Flags.
    pub attributes: ToolAttributes,
    /// Application data: kept on the handle, recorded on the end event when the result is null
    /// or the call failed.
    pub data: Value,
    /// Recorded on start and end events.
    pub metadata: Value,
    /// Provider tool-call id (manual calls), recorded in the category profile.
    pub tool_call_id: Option<String>,
    /// Explicit start time.
    pub timestamp: Option<Timestamp>,
}

/// An open tool call.
#[derive(Debug)]
pub struct ToolHandle {
    /// Span state.
    pub span: CallSpan,
    /// Flags.
    pub attributes: ToolAttributes,
    /// Provider tool-call id.
    pub tool_call_id: Option<String>,
}

/// What `begin` hands back to the binding that drives the call.
pub struct ToolBegin {
    /// The open call.
    pub handle: Arc<ToolHandle>,
    /// New arguments, when request intercepts ran; otherwise the caller's are used as they are.
    pub args: Option<Value>,
    /// Execution intercepts, outermost first.
    pub execution: Arc<[Entry<ToolExecution>]>,
}

/// Runs the conditional guardrails, each inside a guardrail scope pair. On rejection emits
/// the rejection mark when `with_mark` and returns [`FlowError::GuardrailRejected`].
pub fn check_guardrails(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    args: &mut Lazy<'_>,
    metadata: &Value,
    with_mark: bool,
) -> FlowResult<()> {
    let entries = visible(context, |m| &m.tool_conditional);
    if entries.is_empty() {
        return Ok(());
    }
    let args = args.get()?;
    let subs = subscribers_for(context);
    let start_data = if subs.is_empty() {
        JsonText::NULL
    } else {
        JsonText::trusted(format!(
            r#"{{"kind":"tool_conditional_execution","target_name":{}}}"#,
            crate::event::json_str(name)
        ))
    };
    let _published = super::call_info::publish(super::call_info::CallInfo {
        context: Arc::clone(context),
        parent_uuid,
        metadata: metadata.clone(),
        llm_name: None,
        annotated: None,
    });
    let result = run_conditional(
        context,
        &subs,
        parent_uuid,
        metadata,
        &start_data,
        Family::ToolConditional.label(),
        &entries,
        |cb| cb(name, args),
    );
    if let (Err(FlowError::GuardrailRejected { reason, .. }), true) = (&result, with_mark) {
        super::emit_rejection_mark(context, parent_uuid, name, reason, metadata);
    }
    result
}

/// Runs the request-intercept chain; returns the new arguments, or `None` when none ran.
pub fn request_intercepts(
    context: &Arc<ScopeNode>,
    name: &str,
    args: &mut Lazy<'_>,
) -> FlowResult<Option<Value>> {
    let entries = visible(context, |m| &m.tool_request);
    if entries.is_empty() {
        return Ok(None);
    }
    let mut v = args.get()?.clone();
    for e in entries.iter() {
        v = (e.callback)(name, v).map_err(|error| FlowError::Middleware {
            family: Family::ToolRequest.label(),
            name: e.name.to_string(),
            error: Box::new(error),
        })?;
        if e.break_chain {
            break;
        }
    }
    args.set(v.clone());
    Ok(Some(v))
}

/// Opens the span: sanitize-request guardrails over `args`, then the start event. Refused
/// under a scope that has ended.
pub fn start(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    args: &mut Lazy<'_>,
    opts: ToolOptions,
) -> FlowResult<Arc<ToolHandle>> {
    context.require_open("a tool call")?;
    open_span(context, parent_uuid, name, args, opts)
}

/// [`start`] for a managed call, whose scope was checked when the call was created (a call
/// created in a scope may be awaited after that scope closed).
fn open_span(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    args: &mut Lazy<'_>,
    opts: ToolOptions,
) -> FlowResult<Arc<ToolHandle>> {
    let handle = Arc::new(ToolHandle {
        span: CallSpan::new(
            context,
            parent_uuid,
            name,
            opts.data,
            opts.metadata,
            opts.timestamp,
        ),
        attributes: opts.attributes,
        tool_call_id: opts.tool_call_id,
    });
    let subs = subscribers_for(context);
    if !subs.is_empty() {
        let before = args.get()?;
        let data = match sanitize(
            context,
            Family::ToolSanitizeRequest.label(),
            |m| &m.tool_sanitize_request,
            name,
            Cow::Borrowed(before),
        ) {
            Ok(Cow::Borrowed(v)) => Cow::Borrowed(v),
            Ok(Cow::Owned(after)) => {
                handle
                    .span
                    .remember_removed(crate::scrub::removed(&[before], &[&after]));
                Cow::Owned(after)
            }
            Err(marker) => {
                handle
                    .span
                    .remember_removed(crate::scrub::removed(&[before], &[]));
                Cow::Owned(marker)
            }
        };
        let mut ev = handle.span.event(
            ScopeCategory::Start,
            handle.span.info.start,
            handle.attributes.labels(),
            "tool",
        );
        ev.category_profile = Some(Box::new(handle.profile()));
        ev.data = JsonText::from_value(&data);
        emit(&subs, ev);
    }
    Ok(handle)
}

/// The managed call's synchronous front half: guardrails, intercepts, start event.
pub fn begin(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    args: &mut Lazy<'_>,
    opts: ToolOptions,
) -> FlowResult<ToolBegin> {
    check_guardrails(context, parent_uuid, name, args, &opts.metadata, true)?;
    let new_args = request_intercepts(context, name, args)?;
    let handle = open_span(context, parent_uuid, name, args, opts)?;
    let execution = visible(context, |m| &m.tool_execution);
    Ok(ToolBegin {
        handle,
        args: new_args,
        execution,
    })
}

/// Closes the span: sanitize-response guardrails over the result, then the end event.
/// On failure the event data is the handle's application data and the event carries the error.
pub fn end(
    handle: &ToolHandle,
    outcome: Outcome<'_, '_>,
    metadata: Value,
    timestamp: Option<Timestamp>,
) -> FlowResult<()> {
    let span = &handle.span;
    let Some((subs, recorded)) = close_span(span, "tool call", outcome)? else {
        return Ok(());
    };
    let ts = timestamp
        .unwrap_or_else(Timestamp::now)
        .after(span.info.start);
    let mut ev = span.event(ScopeCategory::End, ts, handle.attributes.labels(), "tool");
    ev.category_profile = Some(Box::new(handle.profile()));
    ev.metadata = merge_metadata(&span.info.metadata, metadata).into();
    match recorded {
        Ok(result) => {
            let data = sanitize(
                &span.context,
                Family::ToolSanitizeResponse.label(),
                |m| &m.tool_sanitize_response,
                &span.info.name,
                Cow::Borrowed(result),
            )
            .unwrap_or_else(Cow::Owned);
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
    emit(&subs, ev);
    Ok(())
}

impl ToolHandle {
    fn profile(&self) -> Map<String, Value> {
        let mut p = Map::new();
        if let Some(id) = &self.tool_call_id {
            p.insert("tool_call_id".into(), Value::String(id.clone()));
        }
        p
    }
}

fn sanitize<'v>(
    context: &Arc<ScopeNode>,
    family: &'static str,
    select: fn(
        &crate::middleware::Middleware,
    ) -> &crate::registry::Registry<crate::middleware::ToolSanitize>,
    name: &str,
    v: Cow<'v, Value>,
) -> Result<Cow<'v, Value>, Value> {
    sanitized(&visible(context, select), family, v, |cb, v| cb(name, v))
}
