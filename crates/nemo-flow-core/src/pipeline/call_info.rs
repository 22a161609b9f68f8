//! What a Rust-native conditional guardrail may know about the call it is checking, beyond
//! its `(name, args)` / `(request)` arguments: the scope the call runs in (for marks and the
//! run's `root_uuid`), the call's metadata and, for LLM calls whose codec is known, the
//! annotated request. Guardrails run synchronously on the caller's thread, so the pipeline
//! publishes this in a thread-local slot for exactly the duration of the guardrail step.

use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

use crate::llm::AnnotatedLlmRequest;
use crate::scope::ScopeNode;

/// The call under check.
pub struct CallInfo {
    /// The scope the call runs in.
    pub context: Arc<ScopeNode>,
    /// The uuid the call's events are parented to.
    pub parent_uuid: Uuid,
    /// The call's metadata (`null` when none).
    pub metadata: Value,
    /// LLM calls: the call's name (tool guardrails receive theirs as an argument).
    pub llm_name: Option<Box<str>>,
    /// LLM calls only: the request decoded by the call's codec, when some registration asked
    /// for annotations (see [`demand_annotations`]) and the call has a codec that could
    /// decode it.
    pub annotated: Option<AnnotatedLlmRequest>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<CallInfo>>> = const { RefCell::new(None) };
}

/// The call whose conditional guardrails are running on this thread, if any. The value is
/// shared, not borrowed, so a guardrail may itself start nested calls.
pub fn current() -> Option<Rc<CallInfo>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Restores the previous slot on drop (nested calls inside a guardrail nest correctly).
pub(crate) struct Published(Option<Rc<CallInfo>>);

impl Drop for Published {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

pub(crate) fn publish(info: CallInfo) -> Published {
    Published(CURRENT.with(|c| c.borrow_mut().replace(Rc::new(info))))
}

static ANNOTATION_DEMAND: AtomicUsize = AtomicUsize::new(0);

/// Held by a registration that reads [`CallInfo::annotated`]; while at least one is alive,
/// LLM calls with a codec decode their request before the conditional guardrails run (and
/// only then: no registration, no decode).
pub struct AnnotationDemand(());

/// Asks LLM calls to decode their request for the conditional guardrails.
pub fn demand_annotations() -> AnnotationDemand {
    ANNOTATION_DEMAND.fetch_add(1, Ordering::AcqRel);
    AnnotationDemand(())
}

impl Drop for AnnotationDemand {
    fn drop(&mut self) {
        ANNOTATION_DEMAND.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) fn annotations_wanted() -> bool {
    ANNOTATION_DEMAND.load(Ordering::Acquire) > 0
}
