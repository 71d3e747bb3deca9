//! A deliberately naive event-stream interpreter: the test oracle.
//!
//! This is a literal, whole-input transcription of the WHATWG HTML Living Standard,
//! section 9.2.5 "Parsing an event stream" and section 9.2.6 "Interpreting an event stream",
//! plus the choices pinned in `sse-api.md` ("Semantics pinned").
//! It favours clarity over speed: it decodes the whole input at once, splits it into lines,
//! and walks the lines one by one with `String`s for every buffer.
//!
//! It must never use `chatstream::sse`: it is the independent second opinion that the
//! incremental parser is compared against (fixtures, randomized differential test, fuzzing).

/// One dispatched event, as seen by the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveEvent {
    /// The event type ("message" when the event type buffer was empty).
    pub event: String,
    /// The data buffer with its final LF removed.
    pub data: String,
    /// The last event ID string at dispatch ("" if none).
    pub id: String,
    /// The reconnection time in effect at dispatch, in milliseconds.
    pub retry: Option<u64>,
}

/// Everything observable about one whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveOutcome {
    /// Every dispatched event, in order.
    pub events: Vec<NaiveEvent>,
    /// `None` when the stream ended cleanly; otherwise the incomplete event that the end of the
    /// stream discarded, as `(event type, data)` built from its complete lines only.
    pub discarded: Option<(String, String)>,
}

/// Interprets a whole event stream.
pub fn interpret(input: &[u8]) -> NaiveOutcome {
    // 9.2.5: "Streams must be decoded using the UTF-8 decode algorithm."
    // UTF-8 decode strips one leading BOM and replaces invalid sequences with U+FFFD
    // (maximal subparts, which is exactly what `from_utf8_lossy` does).
    let decoded = String::from_utf8_lossy(input);
    let text = decoded.strip_prefix('\u{FEFF}').unwrap_or(&decoded);

    let (lines, unterminated) = split_lines(text);

    let mut state = State::default();
    for line in lines {
        state.process_line(line);
    }

    // 9.2.6: "Once the end of the file is reached, any pending data must be discarded."
    // sse-api.md pins when finish() reports that something was discarded: a data/event/id line
    // completed since the last blank line, or any non-comment line still in progress.
    let line_in_progress = unterminated.is_some_and(|line| !line.starts_with(':'));
    let discarded = if state.pending || line_in_progress {
        Some((state.event_type_or_message(), state.data_without_final_lf()))
    } else {
        None
    };
    NaiveOutcome {
        events: state.events,
        discarded,
    }
}

/// Splits `text` into complete lines and the unterminated rest (if any).
///
/// 9.2.5: `end-of-line = ( cr lf / cr / lf )`. A CR that is the last character of the stream
/// is a complete line end (sse-api.md: "A CR that is the stream's last byte is a complete line end").
fn split_lines(text: &str) -> (Vec<&str>, Option<&str>) {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find(['\r', '\n']) {
        lines.push(&rest[..end]);
        let terminator_len = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + terminator_len..];
    }
    let unterminated = if rest.is_empty() { None } else { Some(rest) };
    (lines, unterminated)
}

/// The interpreter's state, named after the spec's own buffers.
#[derive(Default)]
struct State {
    data_buffer: String,
    event_type_buffer: String,
    last_event_id_buffer: String,
    last_event_id_string: String,
    reconnection_time: Option<u64>,
    /// A data, event or id line was completed since the last blank line (for the EOF report).
    pending: bool,
    events: Vec<NaiveEvent>,
}

impl State {
    fn process_line(&mut self, line: &str) {
        // "If the line is empty (a blank line): Dispatch the event."
        if line.is_empty() {
            self.dispatch();
            return;
        }
        // "If the line starts with a U+003A COLON character (:): Ignore the line."
        if line.starts_with(':') {
            return;
        }
        // "If the line contains a U+003A COLON character (:): Collect the characters on the line
        // before the first U+003A COLON character (:), and let field be that string. Collect the
        // characters on the line after the first U+003A COLON character (:), and let value be
        // that string. If value starts with a U+0020 SPACE character, remove it from value."
        // "Otherwise, the string is not empty but does not contain a U+003A COLON character (:):
        // Process the field using the whole line as the field name, and the empty string as the
        // field value."
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        self.process_field(field, value);
    }

    fn process_field(&mut self, field: &str, value: &str) {
        match field {
            // "Set the event type buffer to field value."
            "event" => {
                self.event_type_buffer = value.to_string();
                self.pending = true;
            }
            // "Append the field value to the data buffer, then append a single U+000A LINE FEED
            // (LF) character to the data buffer."
            "data" => {
                self.data_buffer.push_str(value);
                self.data_buffer.push('\n');
                self.pending = true;
            }
            // "If the field value does not contain U+0000 NULL, then set the last event ID buffer
            // to the field value. Otherwise, ignore the field."
            "id" => {
                if !value.contains('\0') {
                    self.last_event_id_buffer = value.to_string();
                }
                self.pending = true;
            }
            // "If the field value consists of only ASCII digits, then interpret the field value
            // as an integer in base ten, and set the event stream's reconnection time to that
            // integer. Otherwise, ignore the field."
            // Pinned: an empty value is ignored; a value that overflows u64 is ignored.
            "retry" => {
                let only_digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                match value.parse::<u64>() {
                    Ok(milliseconds) if only_digits => self.reconnection_time = Some(milliseconds),
                    _ => {}
                }
            }
            // "Otherwise: The field is ignored."
            _ => {}
        }
    }

    /// 9.2.6 "dispatch the event".
    fn dispatch(&mut self) {
        self.pending = false;
        // Step 1: "Set the last event ID string of the event source to the value of the last
        // event ID buffer. The buffer does not get reset, so the last event ID string of the
        // event source remains set to this value until the next time it is set by the server."
        self.last_event_id_string = self.last_event_id_buffer.clone();
        // Step 2: "If the data buffer is an empty string, set the data buffer and the event type
        // buffer to the empty string and return."
        if self.data_buffer.is_empty() {
            self.event_type_buffer.clear();
            return;
        }
        // Step 3: "If the data buffer's last character is a U+000A LINE FEED (LF) character,
        // then remove the last character from the data buffer." The event's type is "message"
        // unless the event type buffer is non-empty.
        let event = NaiveEvent {
            event: self.event_type_or_message(),
            data: self.data_without_final_lf(),
            id: self.last_event_id_string.clone(),
            retry: self.reconnection_time,
        };
        self.events.push(event);
        // Step 4: "Set the data buffer and the event type buffer to the empty string."
        self.data_buffer.clear();
        self.event_type_buffer.clear();
    }

    fn event_type_or_message(&self) -> String {
        if self.event_type_buffer.is_empty() {
            "message".to_string()
        } else {
            self.event_type_buffer.clone()
        }
    }

    fn data_without_final_lf(&self) -> String {
        let data = &self.data_buffer;
        data.strip_suffix('\n').unwrap_or(data).to_string()
    }
}
