//! OpenAI Responses. `instructions` becomes the leading system message and `input` items
//! become normalized messages: message items keep their role with parts translated
//! (`input_text`/`output_text` ↔ `text`, `input_image` ↔ `image_url`), `function_call` items
//! become assistant tool calls and `function_call_output` items tool messages. Items with
//! no message equivalent (reasoning, built-in tool calls) stay in `messages` verbatim and
//! go back unchanged.

mod request;
mod response;

/// Codec for OpenAI Responses requests and responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAIResponsesCodec;

const NAME: &str = "OpenAIResponsesCodec";

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
            "model": "gpt-5", "instructions": "be brief",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "https://x/cat.png", "detail": "high"}]},
                {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{\"q\":1}"},
                {"type": "function_call_output", "call_id": "c1", "output": "42"},
                {"type": "reasoning", "id": "rs_1", "summary": []}
            ],
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": true},
                      {"type": "web_search"}],
            "tool_choice": {"type": "function", "name": "lookup"},
            "max_output_tokens": 256, "reasoning": {"effort": "high"}, "include": ["reasoning.encrypted_content"],
            "store": false, "previous_response_id": "resp_0", "truncation": "auto", "text": {"format": {"type": "text"}}
        })
    }

    #[test]
    fn decode_normalizes_instructions_input_and_tools() {
        let a = OpenAIResponsesCodec.decode(&req(body())).unwrap();
        assert_eq!(
            a.messages[0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            a.messages[1]["content"],
            json!([{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "high"}}])
        );
        assert_eq!(
            a.messages[2]["tool_calls"][0]["function"]["name"],
            json!("lookup")
        );
        assert_eq!(
            a.messages[3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "42"})
        );
        assert_eq!(a.messages[4]["type"], json!("reasoning"));
        assert_eq!(a.params.as_ref().unwrap()["max_tokens"], json!(256));
        assert_eq!(a.max_output_tokens, Some(256));
        assert_eq!(
            a.tools.as_ref().unwrap()[0]["function"]["strict"],
            json!(true)
        );
        assert_eq!(
            a.tool_choice,
            Some(json!({"type": "function", "function": {"name": "lookup"}}))
        );
        assert_eq!(
            a.include.as_deref(),
            Some(&["reasoning.encrypted_content".to_string()][..])
        );
        assert_eq!(a.previous_response_id.as_deref(), Some("resp_0"));
        assert_eq!(a.extra.keys().collect::<Vec<_>>(), ["text"]);
    }

    #[test]
    fn encode_of_unchanged_annotation_reproduces_the_body() {
        let original = req(body());
        let a = OpenAIResponsesCodec.decode(&original).unwrap();
        let out = OpenAIResponsesCodec.encode(&a, &original).unwrap().content;
        assert_eq!(out, body());
        assert_eq!(OpenAIResponsesCodec.decode(&req(out)).unwrap(), a);
    }

    #[test]
    fn string_input_round_trips_and_bad_items_name_the_field() {
        let original = req(json!({"model": "m", "input": "hi"}));
        let mut a = OpenAIResponsesCodec.decode(&original).unwrap();
        assert_eq!(a.last_user_message().as_deref(), Some("hi"));
        a.messages[0]["content"] = json!("hello");
        assert_eq!(
            OpenAIResponsesCodec.encode(&a, &original).unwrap().content,
            json!({"model": "m", "input": "hello"})
        );
        let e = OpenAIResponsesCodec
            .decode(&req(
                json!({"input": [{"type": "function_call", "name": "f"}]}),
            ))
            .unwrap_err();
        assert!(
            e.message
                .starts_with("OpenAIResponsesCodec: input[0].call_id: expected a string"),
            "{}",
            e.message
        );
    }

    #[test]
    fn response_decode_reads_text_calls_status_and_usage() {
        let r = OpenAIResponsesCodec
            .decode_response(&json!({
                "id": "resp_1", "model": "gpt-5", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                "output": [{"type": "reasoning", "id": "rs"},
                           {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "par", "annotations": []},
                                                                                {"type": "output_text", "text": "tial", "annotations": []}]},
                           {"type": "function_call", "call_id": "c9", "name": "f", "arguments": "{\"x\":2}"}],
                "usage": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12, "input_tokens_details": {"cached_tokens": 2}}
            }))
            .unwrap();
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        assert_eq!(r.response_text().as_deref(), Some("partial"));
        assert_eq!(
            r.tool_calls,
            Some(vec![
                json!({"id": "c9", "name": "f", "arguments": {"x": 2}})
            ])
        );
        assert_eq!(r.usage.as_ref().unwrap()["cache_read_tokens"], json!(2));
        assert_eq!(
            r.api_specific.as_ref().unwrap()["status"],
            json!("incomplete")
        );
        let failed = OpenAIResponsesCodec
            .decode_response(&json!({"status": "failed", "output": []}))
            .unwrap();
        assert_eq!(failed.finish_reason.as_deref(), Some("failed"));
    }
}
