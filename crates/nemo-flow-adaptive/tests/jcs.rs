//! RFC 8785 canonical JSON: key order, numbers and string escapes.

use nemo_flow_adaptive::jcs::{canonicalize, is_canonical, to_canonical_string};
use serde_json::{Value, json};

fn canon(text: &str) -> String {
    to_canonical_string(&serde_json::from_str::<Value>(text).unwrap())
}

#[test]
fn rfc8785_sorting_example_orders_keys_by_utf16_code_units() {
    // RFC 8785 §3.2.3: U+20AC (one unit) sorts after U+1F600 (surrogates D83D DE00) in UTF-16,
    // although its UTF-8 / code point order is the opposite.
    let got = canon(
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
    );
    let keys: Vec<String> = {
        let v: Value = serde_json::from_str(&got).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(
        keys,
        [
            "\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}"
        ]
    );
}

#[test]
fn rfc8785_numbers_follow_ecmascript() {
    for (input, want) in [
        ("0", "0"),
        ("-0.0", "0"),
        ("1.0", "1"),
        ("-1", "-1"),
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("123456789012345680000", "123456789012345680000"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("1.5e-7", "1.5e-7"),
        ("4.50", "4.5"),
        ("2e-3", "0.002"),
        ("0.1", "0.1"),
        ("9007199254740992", "9007199254740992"),
        ("9007199254740993", "9007199254740992"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("5e-324", "5e-324"),
        ("333333333.33333329", "333333333.3333333"),
        ("-1e-7", "-1e-7"),
    ] {
        assert_eq!(canon(input), want, "{input}");
    }
}

#[test]
fn rfc8785_string_escapes_are_minimal() {
    let v = json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\"\\/é€😀\u{2028}");
    assert_eq!(
        to_canonical_string(&v),
        "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\\"\\\\/é€😀\u{2028}\""
    );
}

#[test]
fn rfc8785_full_example() {
    // RFC 8785 §3.2.2 input (numbers part) and its canonical output.
    let got = canon(
        r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}"#,
    );
    assert_eq!(
        got,
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

#[test]
fn canonicalize_reorders_nested_keys_and_integral_floats() {
    let v = json!({"b": {"z": 1.0, "a": [{"y": 2, "x": 0.5}]}, "a": null});
    assert!(!is_canonical(&v));
    let c = canonicalize(&v);
    assert!(is_canonical(&c));
    assert_eq!(
        serde_json::to_string(&c).unwrap(),
        r#"{"a":null,"b":{"a":[{"x":0.5,"y":2}],"z":1}}"#
    );
    assert_eq!(serde_json::to_string(&c).unwrap(), to_canonical_string(&v));
}
