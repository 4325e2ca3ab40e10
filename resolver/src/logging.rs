//! Log output through tracing: text or JSON lines on stderr, level from the
//! config (`RUST_LOG` overrides it for debugging).
//!
//! Lines are written where they are logged, under stderr's lock. A writer
//! thread of its own was tried (an RPZ hit line per hit costs the query's
//! thread a write): it delayed lines that operators and the tests read right
//! after an action, and it was taken out; the structured hit records
//! (`rpz-log`, crate::hits) are the output built for volume.

use sekisho_conf::{LogFormat, Logging};
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. Safe to call once; later calls are ignored.
pub fn init(config: &Logging) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
