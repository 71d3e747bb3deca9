//! The envelope that a [`ChatCompletion`](super::ChatCompletion) and a
//! [`ChatChunk`](super::ChatChunk) share: `id`, `object`, `created`, `model`,
//! `system_fingerprint`, `service_tier`, `choices`, `usage`, and the unknown fields in `extra`.

/// Writes the `Value`-based `decode` and the `envelope_to_json` of an envelope type, inside
/// its `impl` block: `what` names it in errors, `object` is written when `object` is empty,
/// `choice` is the choice type (with `decode(value, position)` and `to_json`), and any
/// `field: value` pairs after them set the type's own fields.
///
/// A macro rather than a generic function: the two types are public structs that spell the
/// same nine fields, so they cannot share a struct without changing the public API, and a
/// function between them and a shared struct would still list every field once per type.
macro_rules! envelope {
    (
        what: $what:literal,
        object: $object:literal,
        choice: $choice:ident
        $(, $field:ident: $value:expr)* $(,)?
    ) => {
        /// Decodes the envelope, taking its known fields out of `value` (the rest is `extra`).
        /// A choice without an `index` gets its position.
        pub(super) fn decode(value: serde_json::Value) -> $crate::chat::json::Res<Self> {
            let mut f = $crate::chat::json::Fields::new(value, $what)?;
            let id = f.string("id").unwrap_or_default();
            let object = f.string("object").unwrap_or_default();
            let created = f.u64("created").unwrap_or_default();
            let model = f.string("model").unwrap_or_default();
            let system_fingerprint = f.string("system_fingerprint");
            let service_tier = f.string("service_tier");
            let choices = f
                .array("choices")?
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(position, choice)| $choice::decode(choice, position))
                .collect::<$crate::chat::json::Res<_>>()?;
            let usage = $crate::chat::usage::decode_usage(&mut f);
            Ok(Self {
                id,
                object,
                created,
                model,
                system_fingerprint,
                service_tier,
                choices,
                usage,
                extra: f.rest(),
                $($field: $value,)*
            })
        }

        /// The envelope as JSON, `extra` merged last.
        fn envelope_to_json(&self) -> serde_json::Value {
            let mut out = $crate::chat::json::Out::default();
            out.set("id", self.id.as_str());
            out.set_or("object", &self.object, $object);
            out.set("created", self.created);
            out.set("model", self.model.as_str());
            out.set(
                "choices",
                serde_json::Value::Array(self.choices.iter().map($choice::to_json).collect()),
            );
            out.opt("system_fingerprint", self.system_fingerprint.as_deref());
            out.opt("service_tier", self.service_tier.as_deref());
            out.opt(
                "usage",
                self.usage.as_ref().map($crate::chat::Usage::to_json),
            );
            out.finish(&self.extra)
        }
    };
}

/// Writes the `Value`-based `decode(value, position)` of an envelope's choice type, inside its
/// `impl` block: `index` (the position when absent), the choice's body under the key that
/// names it (decoded by `decode`, `default` when absent or `null`), `finish_reason` and
/// `logprobs`.
///
/// A macro for the reason [`envelope`] is one: the two choice types are public structs that
/// differ only in their body.
macro_rules! envelope_choice {
    (what: $what:literal, $body:ident: $decode:path, or $default:expr $(,)?) => {
        fn decode(value: serde_json::Value, position: usize) -> $crate::chat::json::Res<Self> {
            let mut f = $crate::chat::json::Fields::new(value, $what)?;
            let index = f.u64("index").unwrap_or(position as u64);
            let $body = match f.object(stringify!($body))? {
                Some(map) => $decode(map)?,
                None => $default,
            };
            let finish_reason = $crate::chat::json::decode_finish_reason(&mut f);
            let logprobs = f
                .loose_object("logprobs")
                .map($crate::chat::Logprobs::from_map);
            Ok(Self {
                index,
                $body,
                finish_reason,
                logprobs,
                extra: f.rest(),
            })
        }
    };
}

pub(super) use {envelope, envelope_choice};
