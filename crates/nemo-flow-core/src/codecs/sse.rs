//! Server-sent events → JSON payloads. Input may arrive in arbitrary pieces (a frame, a
//! line or a UTF-8 sequence split across reads); CR and CRLF line ends are normalized,
//! frames end at a blank line, several `data:` lines join with newlines, comments and
//! `event:`/`id:`/`retry:` fields are ignored (the providers repeat the event type inside
//! the JSON), and the `[DONE]` sentinel is dropped.

use serde_json::Value;

use crate::error::CallbackError;

const NAME: &str = "SseDecoder";

/// Incremental SSE decoder.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Normalized (LF-only) bytes not yet ending in a blank line.
    pending: Vec<u8>,
    /// The previous input ended in CR: a leading LF of the next one belongs to it.
    after_cr: bool,
    frames: u64,
}

impl SseDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more bytes; returns the JSON payload of every frame they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Value>, CallbackError> {
        for &b in bytes {
            match b {
                b'\r' => {
                    self.pending.push(b'\n');
                    self.after_cr = true;
                }
                b'\n' if self.after_cr => self.after_cr = false,
                _ => {
                    self.pending.push(b);
                    self.after_cr = false;
                }
            }
        }
        let mut out = Vec::new();
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = self.pending.drain(..end + 2).collect();
            if let Some(v) = self.frame(&frame[..end])? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Ends the input: a last frame without its blank line is decoded too.
    pub fn finish(&mut self) -> Result<Vec<Value>, CallbackError> {
        let rest = std::mem::take(&mut self.pending);
        self.after_cr = false;
        Ok(self.frame(&rest)?.into_iter().collect())
    }

    fn frame(&mut self, raw: &[u8]) -> Result<Option<Value>, CallbackError> {
        let index = self.frames;
        self.frames += 1;
        let text = std::str::from_utf8(raw).map_err(|e| {
            CallbackError::new(
                "ValueError",
                format!("{NAME}: frame {index}: not valid UTF-8 ({e})"),
            )
        })?;
        let mut lines = Vec::new();
        for line in text.split('\n') {
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            if field == "data" {
                lines.push(value);
            }
        }
        let data = lines.join("\n");
        if lines.is_empty() {
            return Ok(None); // comments, keep-alives, event/id/retry-only frames
        };
        if data.trim() == "[DONE]" || data.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&data).map(Some).map_err(|e| {
            CallbackError::new(
                "ValueError",
                format!("{NAME}: frame {index}: data is not valid JSON ({e})"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_split_crlf_multiline_frames_and_drops_noise() {
        let stream = "event: message_start\r\ndata: {\"type\":\"message_start\",\r\ndata: \"n\":1}\r\n\r\n: keep-alive\r\n\r\nid: 7\nretry: 100\ndata: {\"text\":\"h\u{e9}\"}\n\ndata: [DONE]\n\n";
        let bytes = stream.as_bytes();
        // Every split point, including inside CRLF pairs and the two-byte é.
        for cut in 0..bytes.len() {
            let mut d = SseDecoder::new();
            let mut got = d.feed(&bytes[..cut]).unwrap();
            got.extend(d.feed(&bytes[cut..]).unwrap());
            got.extend(d.finish().unwrap());
            assert_eq!(
                got,
                vec![
                    json!({"type": "message_start", "n": 1}),
                    json!({"text": "hé"})
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn last_frame_without_blank_line_and_bad_json() {
        let mut d = SseDecoder::new();
        assert_eq!(d.feed(b"data: {\"a\":1}").unwrap(), Vec::<Value>::new());
        assert_eq!(d.finish().unwrap(), vec![json!({"a": 1})]);
        let e = SseDecoder::new().feed(b"data: {oops}\n\n").unwrap_err();
        assert!(
            e.message
                .starts_with("SseDecoder: frame 0: data is not valid JSON"),
            "{}",
            e.message
        );
    }
}
