//! Log setup shared by the node's binaries: an EnvFilter (RUST_LOG wins) on stderr, text or JSON.

/// Install the global subscriber with `default_filter` unless RUST_LOG is set.
pub fn init(
    default_filter: &str,
    json: bool,
) -> Result<(), tracing_subscriber::filter::ParseError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default_filter))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}
