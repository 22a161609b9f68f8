//! Anthropic Messages. The top-level `system` becomes the leading system message (blocks
//! keep their `cache_control`), `tool_use` blocks become assistant tool calls, `tool_result`
//! blocks become tool messages, images become `image_url` parts (base64 sources as data
//! URLs), `input_schema` becomes `parameters`, `thinking` becomes `reasoning`. Blocks with no
//! normalized equivalent (thinking, documents) stay in the content verbatim.

mod request;
mod response;

/// Codec for Anthropic Messages requests and responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicMessagesCodec;

const NAME: &str = "AnthropicMessagesCodec";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{LlmCodec, LlmRequest, LlmResponseCodec};
    use serde_json::{Map, Value, json};

    fn req(content: Value) -> LlmRequest {
        LlmRequest {
            headers: Map::new(),
            content,
        }
    }

    fn body() -> Value {
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024,
            "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is in"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "tool_use", "id": "tu1", "name": "lookup", "input": {"q": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": "42"},
                    {"type": "text", "text": "thanks"}]}
            ],
            "tools": [{"name": "lookup", "description": "d", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "thinking": {"type": "enabled", "budget_tokens": 512}, "stop_sequences": ["END"], "top_k": 5
        })
    }

    #[test]
    fn decode_normalizes_system_blocks_tools_and_results() {
        let a = AnthropicMessagesCodec.decode(&req(body())).unwrap();
        assert_eq!(a.system_prompt().as_deref(), Some("You are terse."));
        assert_eq!(
            a.messages[0]["content"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        assert_eq!(
            a.messages[1]["content"][1],
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}})
        );
        assert_eq!(
            a.messages[2]["tool_calls"][0]["function"],
            json!({"name": "lookup", "arguments": "{\"q\":1}"})
        );
        assert_eq!(
            a.messages[3],
            json!({"role": "tool", "tool_call_id": "tu1", "content": "42"})
        );
        assert_eq!(
            a.messages[4],
            json!({"role": "user", "content": [{"type": "text", "text": "thanks"}]})
        );
        assert_eq!(
            a.tools.as_ref().unwrap()[0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(a.tool_choice, Some(json!("required")));
        assert_eq!(a.parallel_tool_calls, Some(false));
        assert_eq!(
            a.reasoning,
            Some(json!({"type": "enabled", "budget_tokens": 512}))
        );
        assert_eq!(a.params.as_ref().unwrap()["stop"], json!(["END"]));
        assert_eq!(a.extra, json!({"top_k": 5}).as_object().unwrap().clone());
    }

    #[test]
    fn encode_of_unchanged_annotation_reproduces_the_body() {
        let original = req(body());
        let a = AnthropicMessagesCodec.decode(&original).unwrap();
        assert_eq!(
            AnthropicMessagesCodec
                .encode(&a, &original)
                .unwrap()
                .content,
            body()
        );
    }

    #[test]
    fn tool_choice_variants_and_bad_blocks() {
        for (given, normalized) in [
            (json!({"type": "auto"}), json!("auto")),
            (json!({"type": "none"}), json!("none")),
            (
                json!({"type": "tool", "name": "f"}),
                json!({"type": "function", "function": {"name": "f"}}),
            ),
        ] {
            let original = req(json!({"messages": [], "tool_choice": given}));
            let a = AnthropicMessagesCodec.decode(&original).unwrap();
            assert_eq!(a.tool_choice.as_ref(), Some(&normalized));
            assert_eq!(
                AnthropicMessagesCodec
                    .encode(&a, &original)
                    .unwrap()
                    .content["tool_choice"],
                given
            );
        }
        let e = AnthropicMessagesCodec
            .decode(&req(
                json!({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}),
            ))
            .unwrap_err();
        assert!(
            e.message
                .starts_with("AnthropicMessagesCodec: messages[0].content[0].tool_use_id"),
            "{}",
            e.message
        );
    }

    #[test]
    fn response_decode_maps_blocks_stop_reason_and_cache_usage() {
        let r = AnthropicMessagesCodec
            .decode_response(&json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                "content": [{"type": "thinking", "thinking": "…"}, {"type": "text", "text": "Let me check."},
                            {"type": "tool_use", "id": "tu", "name": "f", "input": {"a": 1}}],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 7}
            }))
            .unwrap();
        assert_eq!(r.response_text().as_deref(), Some("Let me check."));
        assert_eq!(r.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            r.tool_calls,
            Some(vec![
                json!({"id": "tu", "name": "f", "arguments": {"a": 1}})
            ])
        );
        assert_eq!(
            Value::Object(r.usage.unwrap()),
            json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cache_read_tokens": 3, "cache_write_tokens": 7})
        );
        let paused = AnthropicMessagesCodec
            .decode_response(&json!({"content": [], "stop_reason": "pause_turn"}))
            .unwrap();
        assert_eq!(paused.finish_reason.as_deref(), Some("pause_turn"));
    }
}
