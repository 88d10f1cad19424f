//! The demo's transcript: one line per event, in the style of the PIX's
//! `debug vpdn packet`/`debug vpdn event`/`debug ppp negotiation` output,
//! prefixed by the simulated time and the end that logged it.

use std::io::Write;

use crate::sim::End;

/// Collects (and optionally prints as it goes) the transcript lines.
pub struct Transcript {
    lines: Vec<String>,
    echo: Option<Box<dyn Write>>,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("lines", &self.lines.len())
            .finish_non_exhaustive()
    }
}

impl Transcript {
    /// A transcript that only collects.
    pub fn new() -> Self {
        Transcript {
            lines: Vec::new(),
            echo: None,
        }
    }

    /// A transcript that also writes every line to `out` as it is logged.
    pub fn echoing(out: Box<dyn Write>) -> Self {
        Transcript {
            lines: Vec::new(),
            echo: Some(out),
        }
    }

    /// Logs `text` at simulated time `now_ms` for `end` (`None`: the
    /// simulation itself).
    pub fn log(&mut self, now_ms: u64, end: Option<End>, text: impl AsRef<str>) {
        let who = end.map_or("   sim", |e| match e {
            End::Client => "client",
            End::Server => "server",
        });
        let line = format_line(now_ms, who, text.as_ref());
        if let Some(out) = self.echo.as_mut() {
            let _ = writeln!(out, "{line}");
        }
        self.lines.push(line);
    }

    /// Every line so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Whether some line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

/// One transcript line: `   4.811 client  text` (the time in seconds
/// with milliseconds, then who logged it). `pptp-tool pcap` prints a
/// capture in the same shape.
pub fn format_line(now_ms: u64, who: &str, text: &str) -> String {
    format!("{:>4}.{:03} {who}  {text}", now_ms / 1000, now_ms % 1000)
}

impl Default for Transcript {
    fn default() -> Self {
        Transcript::new()
    }
}
