//! OpenAI: no annotations; prefix caching (from about 1024 tokens) needs byte-identical
//! prefixes, so tool schemas, the structured-output schema and the model's tool-call
//! arguments are rewritten in RFC 8785 canonical form. The rewrite is a pure function of the
//! content, so history canonicalized in one turn is byte-identical in the next.

use serde_json::Value;

use super::CachePlan;
use crate::ir::{ContentType, Loc, PromptIr, Surface};
use crate::jcs::{canonicalize, is_canonical, to_canonical_string};

/// OpenAI's documented minimum cached prefix.
const OPENAI_MIN_PREFIX: u32 = 1024;

fn target(req: &Value, surface: Surface, loc: Loc) -> Option<&Value> {
    match loc {
        Loc::Tool(i) => req.get("tools")?.get(i),
        Loc::ResponseSchema => match surface {
            Surface::OpenAiResponses => req.get("text")?.get("format"),
            _ => req.get("response_format"),
        },
        Loc::ToolCall(m, k) => {
            req.pointer(&format!("/messages/{m}/tool_calls/{k}/function/arguments"))
        }
        Loc::Message(m, None) => req.pointer(&format!("/input/{m}/arguments")),
        _ => None,
    }
}

/// Whether the JSON at this location (a value, or a string holding JSON) is not canonical.
fn needs_rewrite(v: &Value) -> bool {
    match v {
        Value::String(s) => {
            serde_json::from_str::<Value>(s).is_ok_and(|p| to_canonical_string(&p) != *s)
        }
        other => !is_canonical(other),
    }
}

pub(super) fn plan(plan: &mut CachePlan, req: &Value, ir: &PromptIr) {
    plan.min_cacheable_tokens = OPENAI_MIN_PREFIX;
    for b in &ir.blocks {
        let wanted = matches!(
            b.loc,
            Loc::Tool(_) | Loc::ResponseSchema | Loc::ToolCall(..)
        ) || (b.content_type == ContentType::StructuredOutput
            && matches!(b.loc, Loc::Message(_, None)));
        if wanted && target(req, ir.surface, b.loc).is_some_and(needs_rewrite) {
            plan.canonicalize.push(b.loc);
        }
    }
}

/// Rewrites the JSON at `loc` canonically (Anthropic tools use it too).
pub(super) fn canonicalize_at(req: &mut Value, loc: Loc) {
    let responses = req.get("input").is_some() && req.get("messages").is_none();
    let slot = match loc {
        Loc::Tool(i) => req.get_mut("tools").and_then(|t| t.get_mut(i)),
        Loc::ResponseSchema if responses => req.get_mut("text").and_then(|t| t.get_mut("format")),
        Loc::ResponseSchema => req.get_mut("response_format"),
        Loc::ToolCall(m, k) => {
            req.pointer_mut(&format!("/messages/{m}/tool_calls/{k}/function/arguments"))
        }
        Loc::Message(m, None) => req.pointer_mut(&format!("/input/{m}/arguments")),
        _ => None,
    };
    let Some(slot) = slot else { return };
    match slot {
        Value::String(s) => {
            if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                *s = to_canonical_string(&parsed);
            }
        }
        other => *other = canonicalize(other),
    }
}
