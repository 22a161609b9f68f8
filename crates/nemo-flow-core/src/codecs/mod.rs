//! Built-in provider codecs (OpenAI Chat Completions, OpenAI Responses, Anthropic Messages),
//! stream collectors that rebuild a complete provider response from its chunks, and an SSE
//! decoder. A malformed payload is refused with a `ValueError` callback error naming the
//! codec and the field.

mod anthropic;
mod fields;
mod messages;
mod openai_chat;
mod openai_responses;
mod sse;
mod stream_anthropic;
mod stream_openai_chat;
mod stream_openai_responses;

pub use anthropic::AnthropicMessagesCodec;
pub use openai_chat::OpenAIChatCodec;
pub use openai_responses::OpenAIResponsesCodec;
pub use sse::SseDecoder;
pub use stream_anthropic::AnthropicMessagesStreamCollector;
pub use stream_openai_chat::OpenAIChatStreamCollector;
pub use stream_openai_responses::OpenAIResponsesStreamCollector;

use serde_json::Value;

use crate::error::CallbackError;
use crate::llm::{AnnotatedLlmRequest, LlmCodec, LlmRequest, rebase_annotation};

/// The built-in codecs' `encode_edits`: their `encode` writes every field they model, so the
/// annotation edits are first re-based onto the annotation of `base` itself; raw edits made
/// to `base` (by a request intercept) to fields the annotation left alone then survive.
fn encode_edits(
    codec: &dyn LlmCodec,
    before: &AnnotatedLlmRequest,
    after: &AnnotatedLlmRequest,
    base: &LlmRequest,
) -> Result<LlmRequest, CallbackError> {
    let current = codec.decode(base)?;
    if &current == before {
        return codec.encode(after, base);
    }
    codec.encode(&rebase_annotation(before, after, &current)?, base)
}

/// Accumulates a provider's stream chunks into the response a non-streaming call returns,
/// which the provider's response codec can then decode.
pub trait StreamCollector: Send {
    /// Takes the next chunk (a JSON event as the provider sent it).
    fn collect(&mut self, chunk: &Value) -> Result<(), CallbackError>;
    /// The rebuilt response; the collector starts over afterwards.
    fn finalize(&mut self) -> Value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    #[test]
    fn raw_edits_to_fields_the_annotation_left_alone_survive_encoding() {
        let original = LlmRequest {
            headers: Map::new(),
            content: json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 1}),
        };
        let before = OpenAIChatCodec.decode(&original).unwrap();
        let mut after = before.clone();
        after.model = Some("m2".into());
        after.extra.remove("seed");
        // An intercept also edited the raw body: a modelled field and an unmodelled one.
        let mut edited = original.clone();
        edited.content["metadata"] = json!({"trace": "t"});
        edited.content["logprobs"] = json!(true);
        let out = OpenAIChatCodec
            .encode_edits(&before, &after, &edited)
            .unwrap();
        assert_eq!(
            out.content,
            json!({"model": "m2", "messages": [{"role": "user", "content": "hi"}], "metadata": {"trace": "t"}, "logprobs": true})
        );
    }
}
