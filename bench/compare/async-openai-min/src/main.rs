//! Streams a chat completion with async-openai: what the `chat` example does, in the fewest lines.
//! Built by `bench/size.sh` to compare binary size, build time and dependency count; never run by
//! the benchmarks (it would need a server).

use std::io::Write;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use futures::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let mut config = OpenAIConfig::new();
    if let Ok(base) = std::env::var("OPENAI_BASE_URL") {
        config = config.with_api_base(base);
    }
    let client = Client::with_config(config);
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let request = CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages(vec![
            ChatCompletionRequestUserMessage::from(prompt.as_str()).into(),
        ])
        .build()?;
    let mut stream = client.chat().create_stream(request).await?;
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            if let Some(content) = choice.delta.content {
                out.write_all(content.as_bytes())?;
                out.flush()?;
            }
        }
    }
    writeln!(out)?;
    Ok(())
}
