//! The floor-min program written on chatstream: one streaming chat completion, each content delta
//! printed as it arrives. Built by `bench/size.sh` next to `floor-min`, so that the difference in
//! stripped size is what chatstream's own code adds to a program; never run by the benchmarks (it
//! would need a server).

use std::io::Write;
use std::ops::ControlFlow;

use chatstream::{ChatRequest, Client, Message};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let client = Client::from_env()?;
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let request = ChatRequest::new(model, vec![Message::user(prompt)]);
    let mut out = std::io::stdout().lock();
    client.chat_stream(&request, |chunk| {
        let written = out
            .write_all(chunk.content().as_bytes())
            .and_then(|()| out.flush());
        if written.is_ok() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    })?;
    writeln!(out)?;
    Ok(())
}
