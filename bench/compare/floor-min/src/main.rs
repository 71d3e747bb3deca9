//! The floor any client on ureq + rustls + serde_json pays: one blocking POST to
//! `/chat/completions` with `stream: true`, the body read line by line, each `data:` line parsed
//! as JSON and its content printed. No SSE conformance, no retries, no typed values. Built by
//! `bench/size.sh`; never run by the benchmarks (it would need a server).

use std::io::{BufRead, BufReader, Write};

use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let base =
        std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".to_owned());
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_default();
    let body = json!({
        "model": std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned()),
        "stream": true,
        "messages": [{"role": "user", "content": prompt}],
    });
    let mut response = ureq::post(format!("{}/chat/completions", base.trim_end_matches('/')))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .send(&serde_json::to_vec(&body)?[..])?;
    let reader = BufReader::new(response.body_mut().as_reader());
    let mut out = std::io::stdout().lock();
    for line in reader.lines() {
        let line = line?;
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data)?;
        if let Some(content) = chunk["choices"][0]["delta"]["content"].as_str() {
            out.write_all(content.as_bytes())?;
            out.flush()?;
        }
    }
    writeln!(out)?;
    Ok(())
}
