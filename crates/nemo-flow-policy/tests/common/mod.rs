//! Shared fixtures: a workspace with the symlinks of the design's test table.

#![allow(dead_code)]

use nemo_flow_policy::{Approvals, Call, Component, Target, UnknownField, Verdict, validate};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `<tmp>/ws` with notes.txt, sub/, link_out → <tmp>/outside, link_in → notes.txt,
/// dangling_out → <tmp>/outside/missing; `<tmp>/ws_evil/x` beside it.
pub struct Workspace {
    pub root: PathBuf,
    pub ws: String,
    pub outside: String,
}

impl Workspace {
    pub fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "nemo-flow-policy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let ws = root.join("ws");
        let outside = root.join("outside");
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(root.join("ws_evil")).unwrap();
        std::fs::write(ws.join("notes.txt"), "n").unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("link_out")).unwrap();
        std::os::unix::fs::symlink(ws.join("notes.txt"), ws.join("link_in")).unwrap();
        std::os::unix::fs::symlink(outside.join("missing"), ws.join("dangling_out")).unwrap();
        Self {
            ws: ws.to_str().unwrap().to_string(),
            outside: outside.to_str().unwrap().to_string(),
            root,
        }
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn component(config: Value) -> Arc<Component> {
    match validate(&config, UnknownField::Error) {
        Ok((c, _)) => c,
        Err(d) => panic!("invalid config: {d:#?}"),
    }
}

pub fn tool(c: &Component, name: &str, args: Value) -> Verdict {
    c.evaluate(
        &Call {
            name,
            target: Target::Tool {
                args: &args,
                capability: None,
            },
            run: None,
            scope_inputs: None,
        },
        Approvals::Ask,
    )
}
