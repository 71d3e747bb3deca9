//! A streaming tool-calling loop: the model may call two local tools (`get_weather` and
//! `get_time`) as often as it needs, up to a round limit, and its answer streams to stdout.
//!
//! ```text
//! cargo run --example tools -- [--model M] [--max-rounds N] [--max-tokens N]
//!     [--tool-choice auto|required|none|TOOL] [--extra JSON] PROMPT...
//! ```
//!
//! Configuration comes from the environment, as for `Client::from_env()` (`OPENAI_API_KEY`,
//! `OPENAI_BASE_URL`, ...); the model defaults to `OPENAI_MODEL`, else `gpt-4o-mini`.
//! `--tool-choice` applies to the first round only (later rounds use `auto`), the usual way
//! to force a first call without forcing a call in every round. `--extra` merges a JSON
//! object into every request body (server-specific parameters such as `logit_bias`).
//!
//! Content goes to stdout as it arrives; each tool call and its result go to stderr. Exit
//! status: 0 when the model answered, 1 on an error or when the round limit was reached
//! with tool calls still coming, 2 on a usage error.

use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use chatstream::{ChatRequest, Client, Message, Tool, ToolCall, ToolChoice};
use serde::Deserialize;
use serde_json::{Value, json};

const USAGE: &str = "usage: tools [--model M] [--max-rounds N] [--max-tokens N] \
[--tool-choice auto|required|none|TOOL] [--extra JSON] PROMPT...";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("tools: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("tools: {msg}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Run(String),
}

impl From<chatstream::Error> for Failure {
    fn from(e: chatstream::Error) -> Self {
        Self::Run(e.to_string())
    }
}

fn run() -> Result<(), Failure> {
    let (mut request, max_rounds) = parse_args()?;
    let client = Client::from_env()?;
    for round in 1..=max_rounds {
        let reply = client.chat_stream(&request, |chunk| {
            print!("{}", chunk.content());
            let _ = std::io::stdout().flush();
        })?;
        let message = reply.into_message();
        if message.tool_calls.is_empty() {
            println!();
            return Ok(());
        }
        let results: Vec<Message> = message
            .tool_calls
            .iter()
            .map(|call| {
                let result = call_tool(call);
                eprintln!(
                    "[round {round}: {}({}) -> {result}]",
                    call.function.name,
                    call.function
                        .arguments
                        .split_whitespace()
                        .collect::<String>()
                );
                Message::tool(&call.id, result)
            })
            .collect();
        request.push(message).extend(results);
        // A forced first call must not force every call after it.
        request.tool_choice = Some(ToolChoice::Auto);
    }
    Err(Failure::Run(format!(
        "round limit ({max_rounds}) reached and the model still calls tools"
    )))
}

#[derive(Deserialize)]
struct WeatherArgs {
    city: String,
    unit: Option<String>,
}

#[derive(Deserialize)]
struct TimeArgs {
    city: String,
}

/// Runs one call. Whatever goes wrong (an unknown tool, arguments that are not the JSON the
/// schema asks for) is the tool's answer, so the model can correct itself next round.
fn call_tool(call: &ToolCall) -> Value {
    let result = match call.function.name.as_str() {
        "get_weather" => call.parse_arguments().map(|args: WeatherArgs| {
            let celsius = match args.city.as_str() {
                "Paris" => 21.0_f64,
                "London" => 16.0,
                "Tokyo" => 27.0,
                _ => return json!({"error": format!("no weather station in {}", args.city)}),
            };
            match args.unit.as_deref() {
                Some("fahrenheit") => {
                    let fahrenheit = (celsius * 18.0 + 320.0).round() / 10.0;
                    json!({"city": args.city, "temperature": fahrenheit, "unit": "fahrenheit"})
                }
                _ => json!({"city": args.city, "temperature": celsius, "unit": "celsius"}),
            }
        }),
        "get_time" => call.parse_arguments().map(|args: TimeArgs| {
            // Standard time, without daylight saving: enough for an example.
            let offset_hours = match args.city.as_str() {
                "Paris" => 1,
                "London" => 0,
                "Tokyo" => 9,
                _ => return json!({"error": format!("no time zone known for {}", args.city)}),
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let minutes = (now.as_secs() / 60 + offset_hours * 60) % (24 * 60);
            json!({"city": args.city, "time": format!("{:02}:{:02}", minutes / 60, minutes % 60)})
        }),
        other => return json!({"error": format!("no tool named {other}")}),
    };
    result.unwrap_or_else(|e| json!({"error": e.to_string()}))
}

fn tools() -> Vec<Tool> {
    let city = json!({"type": "string", "enum": ["Paris", "London", "Tokyo"]});
    vec![
        Tool::function(
            "get_weather",
            "Current weather for a city",
            json!({"type": "object", "properties": {
                "city": city,
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            }, "required": ["city"]}),
        ),
        Tool::function(
            "get_time",
            "Current local time in a city",
            json!({"type": "object", "properties": {"city": city}, "required": ["city"]}),
        ),
    ]
}

/// The first request, and the round limit.
fn parse_args() -> Result<(ChatRequest, u32), Failure> {
    let model = std::env::var("OPENAI_MODEL")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "gpt-4o-mini".to_owned());
    let mut request = ChatRequest::new(model, vec![]).tools(tools());
    let mut max_rounds = 5;
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    let bad = |flag: &str| Failure::Usage(format!("{flag} needs a valid value"));
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| bad(&arg));
        match arg.as_str() {
            "--model" => request.model = value()?,
            "--max-rounds" => max_rounds = value()?.parse().map_err(|_| bad(&arg))?,
            "--max-tokens" => request.max_tokens = Some(value()?.parse().map_err(|_| bad(&arg))?),
            "--tool-choice" => {
                request.tool_choice = Some(match value()?.as_str() {
                    "auto" => ToolChoice::Auto,
                    "required" => ToolChoice::Required,
                    "none" => ToolChoice::None,
                    name => ToolChoice::function(name),
                });
            }
            "--extra" => match serde_json::from_str(&value()?) {
                Ok(Value::Object(fields)) => request.extra.extend(fields),
                _ => return Err(bad(&arg)),
            },
            "-h" | "--help" => return Err(Failure::Usage("help".into())),
            s if s.starts_with("--") => return Err(Failure::Usage(format!("unknown option {s}"))),
            _ => words.push(arg),
        }
    }
    if words.is_empty() {
        return Err(Failure::Usage("no prompt given".into()));
    }
    if max_rounds == 0 {
        return Err(bad("--max-rounds"));
    }
    request.push(Message::user(words.join(" ")));
    Ok((request, max_rounds))
}
