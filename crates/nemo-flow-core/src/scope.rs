//! Scopes: immutable nodes linked to their parent, with scope-local registries.
//!
//! "The current scope" is a pointer to a node, kept by each language in its own context
//! store (a Python `ContextVar`, a tokio task-local). Pushing makes a child node and moves
//! the pointer; popping checks the node is the pointer's target and moves it back. Because
//! nodes never change shape, concurrent tasks that copied the pointer can never disturb
//! each other.

use serde_json::Value;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use crate::clock::{Timestamp, new_uuid, stamp_at};
use crate::dispatch::{emit, has_subscribers, subscribers_for};
use crate::error::{FlowError, FlowResult};
use crate::event::{ErrorInfo, Event, Ids, JsonText, ScopeCategory};
use crate::middleware::{Middleware, global};
use crate::registry::{Entry, Registry, merge_layers};
use crate::types::{ScopeAttributes, ScopeType};

/// Identity and payload shared by scope, tool and LLM spans.
#[derive(Debug, Clone)]
pub struct SpanInfo {
    /// Span uuid (v7).
    pub uuid: Uuid,
    /// Name.
    pub name: Arc<str>,
    /// Parent span uuid; `None` only for a root.
    pub parent_uuid: Option<Uuid>,
    /// Root scope of the run.
    pub root_uuid: Uuid,
    /// Application data kept on the handle.
    pub data: Value,
    /// Metadata recorded on start and end events.
    pub metadata: Value,
    /// When the span started.
    pub start: Timestamp,
}

/// Number of live scopes that carry scope-local registries. While it is zero, the visible
/// middleware of any call is the global snapshot itself (no walk, no merge).
static SCOPES_WITH_LOCALS: AtomicUsize = AtomicUsize::new(0);

/// One scope. The implicit root of a run is a node too; it never emits events.
pub struct ScopeNode {
    /// Identity and payload.
    pub info: SpanInfo,
    /// Semantic type.
    pub scope_type: ScopeType,
    /// Flags.
    pub attributes: ScopeAttributes,
    /// Logical parent (`None` for a root).
    pub parent: Option<Arc<ScopeNode>>,
    /// Where the current-scope pointer returns on pop when that differs from `parent`
    /// (a push under an explicit parent handle).
    restore: Option<Arc<ScopeNode>>,
    locals: Mutex<Option<Arc<Middleware>>>,
    ended: AtomicBool,
    detached: bool,
}

impl std::fmt::Debug for ScopeNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScopeNode({:?}, {})", self.info.name, self.info.uuid)
    }
}

/// Everything needed to open a scope.
#[derive(Debug, Clone)]
pub struct ScopeSpec {
    /// Scope name.
    pub name: String,
    /// Scope type.
    pub scope_type: ScopeType,
    /// Flags.
    pub attributes: ScopeAttributes,
    /// Kept on the handle, not emitted.
    pub data: Value,
    /// Recorded on start and end events.
    pub metadata: Value,
    /// The start event's data.
    pub input: Value,
    /// Explicit start time.
    pub timestamp: Option<Timestamp>,
}

impl ScopeSpec {
    /// A spec with only a name and a type.
    pub fn new(name: impl Into<String>, scope_type: ScopeType) -> Self {
        Self {
            name: name.into(),
            scope_type,
            attributes: ScopeAttributes::default(),
            data: Value::Null,
            metadata: Value::Null,
            input: Value::Null,
            timestamp: None,
        }
    }
}

impl ScopeNode {
    /// A fresh root: name `root`, type Agent, its own root uuid.
    pub fn new_root() -> Arc<Self> {
        let uuid = new_uuid();
        Arc::new(Self {
            info: SpanInfo {
                uuid,
                name: Arc::from("root"),
                parent_uuid: None,
                root_uuid: uuid,
                data: Value::Null,
                metadata: Value::Null,
                start: Timestamp::now(),
            },
            scope_type: ScopeType::Agent,
            attributes: ScopeAttributes::default(),
            parent: None,
            restore: None,
            locals: Mutex::new(None),
            ended: AtomicBool::new(false),
            detached: false,
        })
    }

    /// Whether this is the implicit root of a run.
    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    /// Refuses new work (a call, a mark) under this scope once it has ended: a stale handle
    /// or a stale propagated stack would otherwise parent it under a finished scope.
    pub fn require_open(&self, what: &str) -> FlowResult<()> {
        if self.is_ended() {
            return Err(FlowError::Scope(format!(
                "scope '{}' ({}) has ended; {what} cannot be placed under it",
                self.info.name, self.info.uuid
            )));
        }
        Ok(())
    }

    /// Whether the scope has been popped or ended.
    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Whether the scope was started with [`start_detached`].
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// The node the current-scope pointer returns to when this scope is popped.
    pub fn restore_target(&self) -> Option<&Arc<ScopeNode>> {
        self.restore.as_ref().or(self.parent.as_ref())
    }

    /// The root of this node's run.
    pub fn root(self: &Arc<Self>) -> Arc<ScopeNode> {
        let mut n = Arc::clone(self);
        while let Some(p) = n.parent.clone() {
            n = p;
        }
        n
    }

    /// Whether `other` is this node or one of its ancestors along the stack.
    fn stack_contains(self: &Arc<Self>, other: &Arc<ScopeNode>) -> bool {
        let mut cur = Some(Arc::clone(self));
        while let Some(n) = cur {
            if Arc::ptr_eq(&n, other) {
                return true;
            }
            cur = n.restore_target().cloned();
        }
        false
    }

    /// This scope's local registries, created on first use. Refused once the scope ended.
    pub fn locals_or_create(&self) -> FlowResult<Arc<Middleware>> {
        let mut guard = self.locals.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_ended() {
            return Err(FlowError::Scope(format!(
                "scope '{}' ({}) has ended; scope-local middleware cannot be registered on it",
                self.info.name, self.info.uuid
            )));
        }
        Ok(Arc::clone(guard.get_or_insert_with(|| {
            SCOPES_WITH_LOCALS.fetch_add(1, Ordering::AcqRel);
            Arc::new(Middleware::default())
        })))
    }

    /// This scope's local registries, if any were created.
    pub fn locals(&self) -> Option<Arc<Middleware>> {
        self.locals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn drop_locals(&self) {
        if let Some(m) = self.locals.lock().unwrap_or_else(|e| e.into_inner()).take() {
            m.clear();
            SCOPES_WITH_LOCALS.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn mark_ended(&self) -> FlowResult<()> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return Err(FlowError::Scope(format!(
                "scope '{}' ({}) has already ended",
                self.info.name, self.info.uuid
            )));
        }
        Ok(())
    }

    fn child(
        parent: &Arc<ScopeNode>,
        restore: Option<Arc<ScopeNode>>,
        spec: ScopeSpec,
        detached: bool,
    ) -> Arc<Self> {
        let (start, uuid) = stamp_at(spec.timestamp);
        Arc::new(Self {
            info: SpanInfo {
                uuid,
                name: Arc::from(spec.name),
                parent_uuid: Some(parent.info.uuid),
                root_uuid: parent.info.root_uuid,
                data: spec.data,
                metadata: spec.metadata,
                start,
            },
            scope_type: spec.scope_type,
            attributes: spec.attributes,
            parent: Some(Arc::clone(parent)),
            restore,
            locals: Mutex::new(None),
            ended: AtomicBool::new(false),
            detached,
        })
    }
}

impl Drop for ScopeNode {
    fn drop(&mut self) {
        // A scope dropped without being popped (an abandoned task) still releases its locals.
        if let Some(m) = self
            .locals
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            m.clear();
            SCOPES_WITH_LOCALS.fetch_sub(1, Ordering::AcqRel);
        }
        // Release the ancestors iteratively: a long chain of never-popped scopes would
        // otherwise drop recursively, one stack frame per scope, and overflow the stack.
        let mut pending: Vec<Arc<ScopeNode>> = self
            .parent
            .take()
            .into_iter()
            .chain(self.restore.take())
            .collect();
        while let Some(node) = pending.pop() {
            if let Some(mut n) = Arc::into_inner(node) {
                pending.extend(n.parent.take());
                pending.extend(n.restore.take());
            }
        }
    }
}

/// The entries of one family visible from `node`: global first, then every scope's locals
/// from the root to `node`, stably sorted by priority.
pub fn visible<T: Clone>(
    node: &Arc<ScopeNode>,
    select: fn(&Middleware) -> &Registry<T>,
) -> Arc<[Entry<T>]> {
    let global_entries = select(global()).snapshot();
    if SCOPES_WITH_LOCALS.load(Ordering::Acquire) == 0 {
        return global_entries;
    }
    let mut chain = Vec::new();
    let mut cur = Some(Arc::clone(node));
    while let Some(n) = cur {
        if let Some(l) = n.locals() {
            chain.push(select(&l).snapshot());
        }
        cur = n.parent.clone();
    }
    if chain.is_empty() {
        return global_entries;
    }
    chain.push(global_entries);
    chain.reverse();
    merge_layers(&chain, select(global()).order())
}

fn scope_event(
    node: &ScopeNode,
    category: ScopeCategory,
    ts: Timestamp,
    data: Value,
    error: Option<ErrorInfo>,
) -> Event {
    let ids = Ids {
        uuid: node.info.uuid,
        parent_uuid: node.info.parent_uuid,
        root_uuid: node.info.root_uuid,
    };
    let mut ev = Event::scope(
        category,
        node.attributes.labels(),
        Cow::Borrowed(node.scope_type.category()),
        Arc::clone(&node.info.name),
        ids,
        ts,
    );
    ev.scope.as_mut().expect("scope event").error = error;
    ev.data = data.into();
    ev.metadata = JsonText::from_value(&node.info.metadata);
    ev
}

fn emit_start(node: &Arc<ScopeNode>, input: Value) {
    let subs = subscribers_for(node);
    if !subs.is_empty() {
        emit(
            &subs,
            scope_event(node, ScopeCategory::Start, node.info.start, input, None),
        );
    }
}

/// Opens a child of `current` (or of `parent`, when given) and emits its start event.
/// Returns the new node, which becomes the caller's current scope.
pub fn push(
    current: &Arc<ScopeNode>,
    parent: Option<&Arc<ScopeNode>>,
    spec: ScopeSpec,
) -> FlowResult<Arc<ScopeNode>> {
    let (logical, restore) = match parent {
        Some(p) if !Arc::ptr_eq(p, current) => {
            if p.is_ended() {
                return Err(FlowError::Scope(format!(
                    "parent scope '{}' ({}) has already ended",
                    p.info.name, p.info.uuid
                )));
            }
            (p, Some(Arc::clone(current)))
        }
        _ => (current, None),
    };
    let input = spec.input.clone();
    let node = ScopeNode::child(logical, restore, spec, false);
    emit_start(&node, input);
    Ok(node)
}

/// Closes `handle`, which must be the top of the stack `current` points at, and emits its
/// end event. Returns the node that becomes current.
pub fn pop(
    current: &Arc<ScopeNode>,
    handle: &Arc<ScopeNode>,
    output: Value,
    error: Option<ErrorInfo>,
    timestamp: Option<Timestamp>,
) -> FlowResult<Arc<ScopeNode>> {
    if handle.is_root() {
        return Err(FlowError::Scope("the root scope cannot be popped".into()));
    }
    if handle.detached {
        return Err(FlowError::Scope(format!(
            "scope '{}' was started detached; end it with end_detached()",
            handle.info.name
        )));
    }
    if handle.is_ended() {
        return Err(FlowError::Scope(format!(
            "scope '{}' ({}) has already ended",
            handle.info.name, handle.info.uuid
        )));
    }
    if !Arc::ptr_eq(current, handle) {
        return Err(if current.stack_contains(handle) {
            FlowError::Scope(format!(
                "scope '{}' is not at the top of the stack (the top is '{}'); pop the inner scopes first",
                handle.info.name, current.info.name
            ))
        } else {
            FlowError::Scope(format!(
                "scope '{}' ({}) is not on the current scope stack; it belongs to another task or thread",
                handle.info.name, handle.info.uuid
            ))
        });
    }
    finish(handle, output, error, timestamp)?;
    Ok(handle
        .restore_target()
        .cloned()
        .expect("a non-root scope has a parent"))
}

fn finish(
    node: &Arc<ScopeNode>,
    output: Value,
    error: Option<ErrorInfo>,
    timestamp: Option<Timestamp>,
) -> FlowResult<()> {
    node.mark_ended()?;
    let subs = subscribers_for(node);
    if !subs.is_empty() {
        let ts = timestamp
            .unwrap_or_else(Timestamp::now)
            .after(node.info.start);
        emit(
            &subs,
            scope_event(node, ScopeCategory::End, ts, output, error),
        );
    }
    node.drop_locals();
    Ok(())
}

/// Opens a scope under an explicit parent without touching any current-scope pointer, for
/// framework callbacks whose starts and ends do not nest last-in-first-out.
pub fn start_detached(parent: &Arc<ScopeNode>, spec: ScopeSpec) -> FlowResult<Arc<ScopeNode>> {
    if parent.is_ended() {
        return Err(FlowError::Scope(format!(
            "parent scope '{}' ({}) has already ended",
            parent.info.name, parent.info.uuid
        )));
    }
    let input = spec.input.clone();
    let node = ScopeNode::child(parent, None, spec, true);
    emit_start(&node, input);
    Ok(node)
}

/// Ends a scope opened by [`start_detached`].
pub fn end_detached(
    handle: &Arc<ScopeNode>,
    output: Value,
    error: Option<ErrorInfo>,
    timestamp: Option<Timestamp>,
) -> FlowResult<()> {
    if !handle.detached {
        return Err(FlowError::Scope(format!(
            "scope '{}' was pushed on a stack; close it with pop()",
            handle.info.name
        )));
    }
    finish(handle, output, error, timestamp)
}

/// Emits a mark under `parent` (its uuid is the mark's parent).
pub fn mark(
    context: &Arc<ScopeNode>,
    parent_uuid: Uuid,
    name: &str,
    data: impl FnOnce() -> FlowResult<Value>,
    metadata: impl FnOnce() -> FlowResult<Value>,
    timestamp: Option<Timestamp>,
) -> FlowResult<()> {
    context.require_open("a mark")?;
    let subs = subscribers_for(context);
    if subs.is_empty() {
        return Ok(());
    }
    let (timestamp, uuid) = stamp_at(timestamp);
    let ids = Ids {
        uuid,
        parent_uuid: Some(parent_uuid),
        root_uuid: context.info.root_uuid,
    };
    let event = Event::mark(
        Arc::from(name),
        ids,
        timestamp,
        data()?.into(),
        metadata()?.into(),
    );
    emit(&subs, event);
    Ok(())
}

/// Whether anything would receive an event emitted from `node`.
pub fn observed(node: &Arc<ScopeNode>) -> bool {
    has_subscribers(node)
}
