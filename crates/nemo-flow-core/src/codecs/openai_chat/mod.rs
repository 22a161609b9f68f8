//! OpenAI Chat Completions. The normalized message shape *is* the Chat shape, so messages
//! pass through unchanged (after validation); parameters, tools and the request options map
//! onto the annotated fields, and everything else rides in `extra`.

mod request;
mod response;

/// Codec for OpenAI Chat Completions requests and responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAIChatCodec;

const NAME: &str = "OpenAIChatCodec";

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
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "what is "},
                    {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}
            ],
            "temperature": 0.2, "max_tokens": 10, "max_completion_tokens": 64, "stop": "END",
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "lookup"}},
            "reasoning_effort": "low", "seed": 7, "user": "u1", "parallel_tool_calls": false
        })
    }

    #[test]
    fn decode_maps_params_and_keeps_the_rest_in_extra() {
        let a = OpenAIChatCodec.decode(&req(body())).unwrap();
        assert_eq!(a.model.as_deref(), Some("gpt-4o"));
        let p = a.params.as_ref().unwrap();
        assert_eq!(p["max_tokens"], json!(64), "max_completion_tokens wins");
        assert_eq!(p["stop"], json!(["END"]));
        assert_eq!(a.reasoning, Some(json!({"effort": "low"})));
        assert_eq!(a.parallel_tool_calls, Some(false));
        assert_eq!(a.extra, json!({"seed": 7}).as_object().unwrap().clone());
        assert_eq!(a.system_prompt().as_deref(), Some("be brief"));
        assert_eq!(a.messages.len(), 4);
    }

    #[test]
    fn encode_of_unchanged_annotation_reproduces_the_body() {
        let original = req(body());
        let a = OpenAIChatCodec.decode(&original).unwrap();
        // Both token keys present: the winning key carries the value, the other is kept.
        assert_eq!(
            OpenAIChatCodec.encode(&a, &original).unwrap().content,
            body()
        );
    }

    #[test]
    fn encode_applies_edits_and_forces_usage_when_streaming() {
        let original = req(json!({"model": "m", "messages": [], "max_tokens": 5, "n": 2}));
        let mut a = OpenAIChatCodec.decode(&original).unwrap();
        a.model = Some("m2".into());
        a.stream = Some(true);
        a.params
            .as_mut()
            .unwrap()
            .insert("max_tokens".into(), json!(9));
        a.extra.remove("n");
        let out = OpenAIChatCodec.encode(&a, &original).unwrap().content;
        assert_eq!(
            out,
            json!({"model": "m2", "messages": [], "max_tokens": 9, "stream": true, "stream_options": {"include_usage": true}})
        );
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let e = OpenAIChatCodec
            .decode(&req(json!({"messages": [{"role": "user", "content": 5}]})))
            .unwrap_err();
        assert_eq!(e.kind, "ValueError");
        assert!(
            e.message
                .starts_with("OpenAIChatCodec: messages[0].content: expected a string or a list"),
            "{}",
            e.message
        );
        let e = OpenAIChatCodec
            .decode(&req(
                json!({"messages": [], "tools": [{"type": "function"}]}),
            ))
            .unwrap_err();
        assert!(e.message.contains("tools[0].function"), "{}", e.message);
        let e = OpenAIChatCodec
            .decode(&req(json!({"messages": [], "temperature": "hot"})))
            .unwrap_err();
        assert!(
            e.message
                .contains("temperature: expected a number, got string"),
            "{}",
            e.message
        );
        let e = OpenAIChatCodec.decode(&req(json!([1]))).unwrap_err();
        assert!(
            e.message.contains("content: expected an object"),
            "{}",
            e.message
        );
    }

    #[test]
    fn response_decode_normalizes_finish_usage_and_tool_calls() {
        let r = OpenAIChatCodec
            .decode_response(&json!({
                "id": "cc-1", "model": "gpt-4o", "system_fingerprint": "fp",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                                   {"id": "c2", "type": "function", "function": {"arguments": "{}"}}]}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13, "prompt_tokens_details": {"cached_tokens": 4}}
            }))
            .unwrap();
        assert_eq!(r.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            r.tool_calls,
            Some(vec![
                json!({"id": "c1", "name": "f", "arguments": {"a": 1}})
            ])
        );
        assert_eq!(
            Value::Object(r.usage.unwrap()),
            json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13, "cache_read_tokens": 4})
        );
        assert_eq!(r.api_specific.unwrap()["api"], json!("openai_chat"));
        let odd = OpenAIChatCodec
            .decode_response(
                &json!({"choices": [{"finish_reason": "eos_token", "message": {"content": "hi"}}]}),
            )
            .unwrap();
        assert_eq!(odd.finish_reason.as_deref(), Some("eos_token"));
        assert_eq!(odd.response_text().as_deref(), Some("hi"));
        let e = OpenAIChatCodec
            .decode_response(&json!({"error": {"message": "x"}}))
            .unwrap_err();
        assert!(e.message.contains("response.choices"), "{}", e.message);
    }
}
