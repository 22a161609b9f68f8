//! Evaluation of one call against a component (§3.2): match, then every deny policy in
//! document order (first denial wins), then rate limits, then before policies (approvals
//! are asked last, so nobody is asked about a call that is rejected anyway).

use serde_json::Value;
use std::borrow::Cow;

use crate::approver::{self, ApprovalContext, ApprovalError};
use crate::config::{Component, Kind, Mode, OnError, Policy, Trigger, catalog_path_params};
use crate::decision::{Decision, Outcome, Verdict};
use crate::eval::{self, EvalError, Refs, Val};
use crate::rate::RateKey;

/// What is being called.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A tool call and its arguments.
    Tool {
        /// Arguments as the tool receives them.
        args: &'a Value,
        /// Capability given by the caller (NemoIR bridge metadata `nemoir.capability`),
        /// which wins over the `tools` mapping.
        capability: Option<&'a str>,
    },
    /// An LLM call and its annotated request (`None` when the call has no codec).
    Llm {
        /// The annotated request as JSON.
        annotated: Option<&'a Value>,
    },
}

/// One call to check.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Tool or LLM call name.
    pub name: &'a str,
    /// What kind of call.
    pub target: Target<'a>,
    /// The run (`root_uuid`), for `key: "run"` rate limits.
    pub run: Option<&'a str>,
    /// Data of the nearest Agent scope, for `inputs_from_scope`.
    pub scope_inputs: Option<&'a Value>,
}

/// How far evaluation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approvals {
    /// Ask the approvers (live calls).
    Ask,
    /// Do not ask (backtests): a `before` policy records `allowed` with the reason
    /// "approval required".
    Skip,
}

struct Bindings<'a, 'v> {
    bound: &'v [Val<'a>],
    component: &'a Component,
    scope_inputs: Option<&'a Value>,
}

impl Refs for Bindings<'_, '_> {
    fn bound(&self, i: usize) -> Result<Val<'_>, EvalError> {
        Ok(self.bound[i].clone())
    }

    fn input(&self, name: &str) -> Result<Val<'_>, EvalError> {
        let def = self.component.inputs.get(name);
        let from_scope = if self.component.inputs_from_scope {
            self.scope_inputs.and_then(|d| d.get(name))
        } else {
            None
        };
        let Some(v) = from_scope.or_else(|| def.and_then(|d| d.value.as_ref())) else {
            return Err(EvalError(format!("input ref '{name}' is not provided")));
        };
        Ok(match (v, def.is_some_and(|d| d.path)) {
            (Value::String(s), true) => Val::P(Cow::Borrowed(s)),
            _ => Val::J(Cow::Borrowed(v)),
        })
    }
}

/// Which arguments bind as paths: the tool mapping's, else the capability's catalog entry.
#[derive(Clone, Copy)]
enum PathParams<'a> {
    Mapped(&'a [String]),
    Catalog(&'static [&'static str]),
}

impl PathParams<'_> {
    fn contains(self, arg: &str) -> bool {
        match self {
            PathParams::Mapped(v) => v.iter().any(|p| p == arg),
            PathParams::Catalog(v) => v.contains(&arg),
        }
    }
}

/// A step's result before mode and `on_error` are applied.
enum Step {
    Pass,
    Deny(String),
    Limited(String, f64),
    Fail(String),
}

impl Component {
    /// Checks one call and returns every decision taken and the verdict.
    pub fn evaluate(&self, call: &Call<'_>, approvals: Approvals) -> Verdict {
        self.evaluate_with(call, approvals, true)
    }

    /// [`Component::evaluate`]; with `record_allowed` false the verdict lists only the
    /// decisions other than `allowed` (the guardrail's fast path when nothing marks them).
    pub fn evaluate_with(
        &self,
        call: &Call<'_>,
        approvals: Approvals,
        record_allowed: bool,
    ) -> Verdict {
        let mut decisions = Vec::new();
        let (capability, path_params) = match call.target {
            Target::Tool { capability, .. } => {
                let mapped = self.tools.get(call.name);
                let cap = capability.or(mapped.map(|t| t.capability.as_str()));
                let pp = match mapped {
                    Some(t) => PathParams::Mapped(&t.path_params),
                    None => PathParams::Catalog(cap.map_or(&[][..], catalog_path_params)),
                };
                (cap, pp)
            }
            Target::Llm { .. } => (None, PathParams::Catalog(&[])),
        };
        let decide = |p_id: &str,
                      kind: &'static str,
                      decision: Outcome,
                      reason: Option<String>,
                      retry_after: Option<f64>| Decision {
            policy_id: p_id.to_string(),
            kind,
            decision,
            capability: capability.map(String::from),
            tool: call.name.to_string(),
            reason,
            retry_after,
        };
        if let (Target::Tool { .. }, None, true) = (
            call.target,
            capability,
            self.deny_unmapped && self.has_capability_triggers,
        ) {
            let reason = format!(
                "tool '{}' has no capability mapping (unmapped_tools: deny)",
                call.name
            );
            decisions.push(decide(
                "unmapped_tools",
                "unmapped_tools",
                Outcome::Denied,
                Some(reason.clone()),
                None,
            ));
            return Verdict {
                allowed: false,
                reason: Some(reason),
                decisions,
            };
        }
        let subject = capability.unwrap_or(call.name);
        let what = || match (capability, call.target) {
            (Some(c), _) => format!("capability '{c}'"),
            (None, Target::Tool { .. }) => format!("tool '{}'", call.name),
            (None, Target::Llm { .. }) => format!("LLM call '{}'", call.name),
        };
        // One buffer for every policy's bound values.
        let mut bound: Vec<Val<'_>> = Vec::new();
        // Each argument a tool policy binds is looked up once per call.
        let mut args_seen: Vec<Option<Option<&Value>>> = vec![None; self.arg_names.len()];
        for &i in &self.order {
            let p = &self.policies[i];
            let phase = p.kind;
            if !self.matches(p, call, capability) {
                continue;
            }
            {
                let step = self.step(
                    p,
                    call,
                    capability,
                    (subject, &what),
                    path_params,
                    approvals,
                    (&mut bound, &mut args_seen),
                );
                let (outcome, reason, retry, blocks) = match step {
                    Step::Pass => (Outcome::Allowed, None, None, false),
                    Step::Deny(r) => (Outcome::Denied, Some(r), None, true),
                    Step::Limited(r, w) => (Outcome::RateLimited, Some(r), Some(w), true),
                    Step::Fail(detail) => (
                        Outcome::Error,
                        Some(format!("policy '{}': evaluation error: {detail}", p.id)),
                        None,
                        self.on_error == OnError::Deny,
                    ),
                };
                let (outcome, blocks) = match (p.mode, outcome, blocks) {
                    (Mode::Shadow, Outcome::Denied | Outcome::RateLimited, _) => {
                        (Outcome::WouldDeny, false)
                    }
                    (Mode::Shadow, o, _) => (o, false),
                    (Mode::Enforce, o, b) => (o, b),
                };
                let approval_skipped = phase == Kind::Before
                    && approvals == Approvals::Skip
                    && outcome == Outcome::Allowed;
                let reason = if approval_skipped {
                    Some("approval required".to_string())
                } else {
                    reason
                };
                if record_allowed || outcome != Outcome::Allowed || approval_skipped {
                    decisions.push(decide(
                        &p.id,
                        p.kind.as_str(),
                        outcome,
                        reason.clone(),
                        retry,
                    ));
                }
                if blocks {
                    return Verdict {
                        allowed: false,
                        reason,
                        decisions,
                    };
                }
            }
        }
        Verdict {
            allowed: true,
            reason: None,
            decisions,
        }
    }

    fn matches(&self, p: &Policy, call: &Call<'_>, capability: Option<&str>) -> bool {
        match (&p.trigger, call.target) {
            (
                Trigger::Tool {
                    tool,
                    capability: cap,
                },
                Target::Tool { .. },
            ) => {
                tool.as_deref().is_none_or(|t| t == call.name)
                    && cap.as_deref().is_none_or(|c| Some(c) == capability)
            }
            (Trigger::Llm(glob), Target::Llm { .. }) => {
                glob.as_ref().is_none_or(|g| g.matches(call.name))
            }
            _ => false,
        }
    }

    fn bind<'a>(
        &self,
        p: &Policy,
        call: &Call<'a>,
        path_params: PathParams<'_>,
        out: &mut Vec<Val<'a>>,
        args_seen: &mut [Option<Option<&'a Value>>],
    ) -> Result<(), String> {
        out.clear();
        for (n, (_, arg)) in p.bind.iter().enumerate() {
            match call.target {
                Target::Tool { args, .. } => {
                    let slot = &mut args_seen[p.arg_slots[n]];
                    let Some(v) = *slot.get_or_insert_with(|| args.get(arg)) else {
                        return Err(format!("trigger-bound argument '{arg}' is missing"));
                    };
                    out.push(match v {
                        Value::String(s) if path_params.contains(arg) => Val::P(Cow::Borrowed(s)),
                        _ => Val::J(Cow::Borrowed(v)),
                    });
                }
                Target::Llm { annotated } => {
                    let Some(req) = annotated else {
                        return Err("the LLM call has no codec, so its request has no annotated fields to bind".into());
                    };
                    out.push(llm_field(req, arg));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn step<'a>(
        &self,
        p: &Policy,
        call: &Call<'a>,
        capability: Option<&str>,
        (subject, what): (&str, &dyn Fn() -> String),
        path_params: PathParams<'_>,
        approvals: Approvals,
        (bound, args_seen): (&mut Vec<Val<'a>>, &mut [Option<Option<&'a Value>>]),
    ) -> Step {
        if let Err(e) = self.bind(p, call, path_params, bound, args_seen) {
            return Step::Fail(e);
        }
        let refs = Bindings {
            bound,
            component: self,
            scope_inputs: call.scope_inputs,
        };
        let condition = match &p.condition {
            None => true,
            Some(c) => match eval::holds(c, &refs, &self.options) {
                Ok(b) => b,
                Err(EvalError(e)) => return Step::Fail(e),
            },
        };
        match p.kind {
            Kind::Deny if condition => Step::Deny(
                p.message
                    .clone()
                    .unwrap_or_else(|| format!("policy '{}' denied {}", p.id, what())),
            ),
            Kind::Deny => Step::Pass,
            Kind::RateLimit => {
                let Some(l) = &p.limiter else {
                    return Step::Pass;
                };
                if !condition {
                    return Step::Pass;
                }
                let key: Cow<'_, str> = match l.key {
                    RateKey::Tool => Cow::Borrowed(call.name),
                    RateKey::Capability => Cow::Borrowed(subject),
                    RateKey::Run => Cow::Borrowed(call.run.unwrap_or("")),
                    RateKey::Bound(i) => match &refs.bound[i] {
                        Val::P(s) => Cow::Borrowed(&**s),
                        Val::J(v) => match &**v {
                            Value::String(s) => Cow::Borrowed(s.as_str()),
                            other => Cow::Owned(other.to_string()),
                        },
                    },
                };
                match l.acquire(&key) {
                    Ok(()) => Step::Pass,
                    Err(wait) => Step::Limited(
                        p.message.clone().unwrap_or_else(|| {
                            format!(
                                "policy '{}': rate limit of {} calls per {}s exceeded for {}; retry in {:.2}s",
                                p.id,
                                l.rate,
                                l.per,
                                what(),
                                wait
                            )
                        }),
                        wait,
                    ),
                }
            }
            Kind::Before if !condition || approvals == Approvals::Skip => Step::Pass,
            Kind::Before => {
                let ctx = ApprovalContext {
                    tool: call.name.to_string(),
                    capability: capability.map(String::from),
                    policy_id: p.id.clone(),
                };
                for r in &p.requires {
                    let message = match &r.message {
                        None => format!("Allow policy-required call before {subject}?"),
                        Some(e) => match eval::eval(e, &refs, &self.options) {
                            Ok(Val::P(s)) => s.into_owned(),
                            Ok(Val::J(v)) => match &*v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            },
                            Err(EvalError(e)) => return Step::Fail(e),
                        },
                    };
                    let Some(approver) = approver::get(&r.approver) else {
                        return Step::Fail(format!("approver '{}' is not registered", r.approver));
                    };
                    match approver(&message, &ctx) {
                        Ok(Value::Bool(true)) => {}
                        Ok(Value::Bool(false)) => {
                            return Step::Deny(format!(
                                "policy '{}': user.confirm returned False, blocking '{subject}'",
                                p.id
                            ));
                        }
                        Ok(other) => {
                            let t = Val::J(Cow::Owned(other)).type_name();
                            return Step::Fail(format!(
                                "approver '{}' returned {t}, expected a bool",
                                r.approver
                            ));
                        }
                        Err(ApprovalError::TimedOut) => {
                            return Step::Deny(format!(
                                "policy '{}': approver '{}' timed out, blocking '{subject}'",
                                p.id, r.approver
                            ));
                        }
                        Err(ApprovalError::NotBool(t)) => {
                            return Step::Fail(format!(
                                "approver '{}' returned {t}, expected a bool",
                                r.approver
                            ));
                        }
                        Err(ApprovalError::Failed(e)) => {
                            return Step::Fail(format!("approver '{}' failed: {e}", r.approver));
                        }
                    }
                }
                Step::Pass
            }
        }
    }
}

/// A dotted path into the annotated request; `tool_names` lists the names of the tools
/// offered. A field the request does not set binds null.
fn llm_field<'a>(req: &'a Value, path: &str) -> Val<'a> {
    if path == "tool_names" {
        let names: Vec<Value> = req
            .get("tools")
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| {
                        t.get("name")
                            .or_else(|| t.pointer("/function/name"))
                            .cloned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Val::J(Cow::Owned(Value::Array(names)));
    }
    let mut cur = req;
    for seg in path.split('.') {
        let next = match cur {
            Value::Object(m) => m.get(seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Val::J(Cow::Owned(Value::Null)),
        }
    }
    Val::J(Cow::Borrowed(cur))
}
