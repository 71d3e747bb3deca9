//! [`IntoControlFlow`]: what a streaming callback may return.

use std::ops::ControlFlow;

/// What a streaming callback returns: `()` to go on, or a [`ControlFlow<()>`] to decide.
///
/// Every call that hands items to a closure one at a time ([`Client::chat_stream`],
/// [`Client::post_stream`]) takes any closure whose result implements this trait, much as
/// `main` may return anything that implements [`std::process::Termination`]. So a closure that
/// only prints needs no `ControlFlow` at all, and one that may stop early returns
/// [`ControlFlow::Break(())`](ControlFlow::Break):
///
/// ```no_run
/// # #[cfg(feature = "client")] fn main() -> Result<(), chatstream::Error> {
/// use std::ops::ControlFlow;
/// use chatstream::{ChatRequest, Client, Message};
///
/// let client = Client::from_env()?;
/// let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("Hi")]);
///
/// // Returns (): every chunk is delivered.
/// client.chat_stream(&request, |chunk| print!("{}", chunk.content()))?;
///
/// // Returns ControlFlow: stop after the first line.
/// client.chat_stream(&request, |chunk| {
///     print!("{}", chunk.content());
///     if chunk.content().contains('\n') { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
/// })?;
/// # Ok(()) }
/// # #[cfg(not(feature = "client"))] fn main() {}
/// ```
///
/// The trait is sealed: `()` and `ControlFlow<()>` are the whole list, which keeps
/// `|_| ControlFlow::Continue(())` unambiguous to type inference.
///
/// [`Client::chat_stream`]: crate::Client::chat_stream
/// [`Client::post_stream`]: crate::Client::post_stream
pub trait IntoControlFlow: sealed::Sealed {
    /// `Continue(())` to receive the next item, `Break(())` to stop.
    fn into_control_flow(self) -> ControlFlow<()>;
}

impl IntoControlFlow for () {
    fn into_control_flow(self) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl IntoControlFlow for ControlFlow<()> {
    fn into_control_flow(self) -> ControlFlow<()> {
        self
    }
}

mod sealed {
    use std::ops::ControlFlow;

    pub trait Sealed {}
    impl Sealed for () {}
    impl Sealed for ControlFlow<()> {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls `f` until it breaks or `items` run out, the way a streaming call does; returns
    /// how many items it was given.
    fn drive<R: IntoControlFlow>(items: usize, mut f: impl FnMut(usize) -> R) -> usize {
        let mut given = 0;
        for item in 0..items {
            given += 1;
            if f(item).into_control_flow().is_break() {
                break;
            }
        }
        given
    }

    #[test]
    fn unit_goes_on_and_control_flow_decides() {
        let mut seen = Vec::new();
        assert_eq!(drive(4, |item| seen.push(item)), 4);
        assert_eq!(seen, [0, 1, 2, 3]);
        assert_eq!(
            drive(4, |item| if item == 1 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }),
            2
        );
        // The `ControlFlow` type parameters are inferred from the one impl that fits.
        assert_eq!(drive(3, |_| ControlFlow::Continue(())), 3);
        assert_eq!(drive(3, |_| ControlFlow::Break(())), 1);
    }
}
