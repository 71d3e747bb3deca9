//! [`Role`]: who wrote a message.

use std::fmt;

/// The author of a [`Message`](crate::Message).
///
/// Roles the crate does not know (`"function"`, `"ipython"`, ...) are kept as
/// [`Role::Other`] and written back unchanged.
///
/// ```
/// use chatstream::Role;
///
/// assert_eq!(Role::from("tool"), Role::Tool);
/// assert_eq!(Role::from("ipython"), Role::Other("ipython".into()));
/// assert_eq!(Role::Developer.as_str(), "developer");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// `"system"`: instructions for the model.
    System,
    /// `"developer"`: instructions for the model (OpenAI's newer name for `system`).
    Developer,
    /// `"user"`: the end user. The default role.
    #[default]
    User,
    /// `"assistant"`: the model.
    Assistant,
    /// `"tool"`: the result of a tool call.
    Tool,
    /// Any other role, spelled as it was received.
    Other(String),
}

impl Role {
    /// The role as it is spelled in JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Self::System => "system",
            Self::Developer => "developer",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
            Self::Other(other) => other,
        }
    }
}

impl From<&str> for Role {
    fn from(role: &str) -> Self {
        match role {
            "system" => Self::System,
            "developer" => Self::Developer,
            "user" => Self::User,
            "assistant" => Self::Assistant,
            "tool" => Self::Tool,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for Role {
    fn from(role: String) -> Self {
        match Self::from(role.as_str()) {
            Self::Other(_) => Self::Other(role),
            known => known,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;
    use crate::chat::json::tests::check_round_trip;
    use serde_json::json;

    #[test]
    fn roles() {
        for name in [
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
            "",
        ] {
            assert_eq!(Role::from(name).as_str(), name);
            assert_eq!(Role::from(name.to_owned()), Role::from(name));
        }
        assert_eq!(Role::from("ipython"), Role::Other("ipython".into()));
        assert_eq!(Role::Assistant.to_string(), "assistant");
        let message = check_round_trip(
            json!({"role": "ipython", "content": "x"}),
            Message::from_json,
            Message::to_json,
        );
        assert_eq!(message.role, Role::Other("ipython".into()));
    }
}
