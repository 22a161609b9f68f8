//! ACG `openai`: RFC 8785 canonical tool schemas, response schemas and tool-call arguments
//! for Chat and Responses requests; idempotent; no annotations.

use nemo_flow_adaptive::acg::AcgState;
use nemo_flow_adaptive::config::{AcgConfig, Provider};
use nemo_flow_adaptive::ir::{ContentType, PromptIr, Surface};
use serde_json::{Value, json};

fn openai() -> AcgState {
    AcgState::new(AcgConfig {
        provider: Provider::OpenAi,
        ..AcgConfig::default()
    })
}

fn chat_request() -> Value {
    serde_json::from_str(r#"{
      "model": "gpt-4.1-2025-04-14",
      "messages": [
        {"role": "system", "content": "You are a travel assistant."},
        {"role": "user", "content": "Weather in Zürich and Köln?"},
        {"role": "assistant", "content": null, "tool_calls": [
          {"id": "call_1", "type": "function", "function": {"name": "get_weather",
           "arguments": "{\"unit\": \"celsius\", \"city\": \"Z\\u00fcrich\", \"days\": 2.0}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 3}"}
      ],
      "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Forecast",
        "parameters": {"type": "object", "required": ["city"],
          "properties": {"unit": {"enum": ["celsius", "fahrenheit"], "type": "string"},
                         "city": {"type": "string"}, "days": {"type": "integer", "maximum": 1e1}}}}}],
      "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
        "schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}
    }"#).unwrap()
}

#[test]
fn chat_ir_covers_tools_schema_messages_and_tool_calls() {
    let ir = PromptIr::from_request(&chat_request()).unwrap();
    assert_eq!(ir.surface, Surface::OpenAiChat);
    let ids: Vec<&str> = ir.blocks.iter().map(|b| b.span_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tools-0-get_weather",
            "schema-0",
            "system-0",
            "user-1",
            "assistant-2.tc0-get_weather",
            "tool-3-call_1"
        ]
    );
    assert_eq!(ir.blocks[4].content_type, ContentType::StructuredOutput);
    assert_eq!(ir.blocks[5].content_type, ContentType::ToolResult);
}

#[test]
fn chat_tool_schemas_structured_content_and_arguments_become_canonical() {
    let acg = openai();
    let mut req = chat_request();
    let (_, plan) = acg.govern(&mut req).unwrap();
    assert_eq!(plan.canonicalize.len(), 3, "{:?}", plan.canonicalize);
    assert!(plan.breakpoints.is_empty());
    assert_eq!(
        serde_json::to_string(&req["tools"][0]).unwrap(),
        r#"{"function":{"description":"Forecast","name":"get_weather","parameters":{"properties":{"city":{"type":"string"},"days":{"maximum":10,"type":"integer"},"unit":{"enum":["celsius","fahrenheit"],"type":"string"}},"required":["city"],"type":"object"}},"type":"function"}"#
    );
    // Arguments: keys sorted, 2.0 → 2, the \u00fc escape written as the character.
    assert_eq!(
        req["messages"][2]["tool_calls"][0]["function"]["arguments"],
        json!(r#"{"city":"Zürich","days":2,"unit":"celsius"}"#)
    );
    assert_eq!(
        serde_json::to_string(&req["response_format"]).unwrap(),
        r#"{"json_schema":{"name":"answer","schema":{"properties":{"text":{"type":"string"}},"type":"object"},"strict":true},"type":"json_schema"}"#
    );
    // Tool results and prose are left alone; no cache annotations anywhere.
    assert_eq!(req["messages"][3]["content"], json!("{\"temp\": 3}"));
    assert!(
        !serde_json::to_string(&req)
            .unwrap()
            .contains("cache_control")
    );
    // A second pass finds nothing to do, and the content hash is unchanged by it.
    let again = req.clone();
    let (_, plan2) = acg.govern(&mut req).unwrap();
    assert!(plan2.canonicalize.is_empty());
    assert_eq!(req, again);
}

#[test]
fn canonical_schemas_hash_alike_whatever_the_key_order() {
    let a = chat_request();
    let mut b = chat_request();
    b["tools"][0] = nemo_flow_adaptive::jcs::canonicalize(&b["tools"][0]);
    let (ia, ib) = (
        PromptIr::from_request(&a).unwrap(),
        PromptIr::from_request(&b).unwrap(),
    );
    assert_eq!(ia.blocks[0].hash, ib.blocks[0].hash);
    assert_eq!(ia.learning_key(), ib.learning_key());
    let mut c = chat_request();
    c["tools"][0]["function"]["description"] = json!("Forecast!");
    assert_ne!(
        PromptIr::from_request(&c).unwrap().learning_key(),
        ia.learning_key()
    );
}

#[test]
fn responses_request_is_canonicalized_too() {
    let mut req = json!({
        "model": "gpt-5", "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Book it"}]},
            {"type": "function_call", "call_id": "fc_1", "name": "book", "arguments": "{\"z\":1,\"a\":[1.50,true]}"},
            {"type": "function_call_output", "call_id": "fc_1", "output": "ok"}
        ],
        "tools": [{"type": "function", "name": "book", "parameters": {"type": "object", "properties": {}}}],
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object", "additionalProperties": false}}}
    });
    let ir = PromptIr::from_request(&req).unwrap();
    assert_eq!(ir.surface, Surface::OpenAiResponses);
    let ids: Vec<&str> = ir.blocks.iter().map(|b| b.span_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tools-0-book",
            "schema-0",
            "system-0",
            "user-0",
            "assistant-1-book",
            "tool-2-fc_1"
        ]
    );
    openai().govern(&mut req).unwrap();
    assert_eq!(
        req["input"][1]["arguments"],
        json!(r#"{"a":[1.5,true],"z":1}"#)
    );
    assert_eq!(
        serde_json::to_string(&req["tools"][0]).unwrap(),
        r#"{"name":"book","parameters":{"properties":{},"type":"object"},"type":"function"}"#
    );
    assert_eq!(
        serde_json::to_string(&req["text"]["format"]).unwrap(),
        r#"{"name":"r","schema":{"additionalProperties":false,"type":"object"},"type":"json_schema"}"#
    );
}

#[test]
fn arguments_that_are_not_json_are_left_alone() {
    let mut req = chat_request();
    req["messages"][2]["tool_calls"][0]["function"]["arguments"] = json!("{not json");
    openai().govern(&mut req).unwrap();
    assert_eq!(
        req["messages"][2]["tool_calls"][0]["function"]["arguments"],
        json!("{not json")
    );
}
