//! One-line error reports for the binaries' exit path.

/// The error and its causes on one line, skipping a cause whose text is already there (our
/// errors show their I/O source in their own message).
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading keys/a.key: {0}")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("starting the node")]
    struct Top(#[source] Outer);

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Top(Outer(io));
        assert_eq!(
            one_line(&e),
            "starting the node: reading keys/a.key: no such file"
        );
    }
}
