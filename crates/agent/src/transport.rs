//! Newline-delimited JSON over any `AsyncRead`/`AsyncWrite`, shaped as the line stream
//! and line sink the ACP crate's `Lines` transport takes.
//!
//! Why not the crate's `ByteStreams`: it hands every line to the JSON-RPC layer, which
//! answers a non-JSON line with a parse error written back to the peer, logs it only at
//! debug, and fails the whole connection on a line that is not UTF-8. Agents print
//! banners, warnings and progress bars on stdout; [`json_lines`] logs and skips those so
//! they never reach the protocol layer.

use std::io;

use futures::{Sink, SinkExt, Stream};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest line accepted; longer ones are skipped. Generous because a `fs/write_text_file`
/// carries a whole file in one line, small enough that a runaway peer cannot exhaust memory.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// How much of a skipped line is quoted in the log.
const LOG_EXCERPT_CHARS: usize = 200;

/// The JSON lines read from `reader`, for the peer named `peer` in logs. Blank lines are
/// dropped silently; lines that are not valid JSON, not UTF-8 or too long are logged at
/// `warn` and dropped. Ends at EOF; yields an error (and then ends) on a read error.
pub(crate) fn json_lines<R>(
    reader: R,
    peer: &'static str,
) -> impl Stream<Item = io::Result<String>> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
{
    lines(reader, peer, true)
}

/// [`json_lines`] without the JSON check, for a reader that parses lines itself and
/// calls [`keep_json`] on those it did not parse (so no line is scanned twice).
pub(crate) fn text_lines<R>(
    reader: R,
    peer: &'static str,
) -> impl Stream<Item = io::Result<String>> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
{
    lines(reader, peer, false)
}

/// Whether `line` is JSON; if not it is logged at `warn`, to be dropped.
pub(crate) fn keep_json(line: &str, peer: &'static str) -> bool {
    let json = serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok();
    if !json {
        tracing::warn!(peer, line = %excerpt(line), "skipping a non-JSON line on stdout");
    }
    json
}

fn lines<R>(
    reader: R,
    peer: &'static str,
    check_json: bool,
) -> impl Stream<Item = io::Result<String>> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let state = Some((BufReader::new(reader), Vec::new()));
    futures::stream::unfold(state, move |state| async move {
        let (mut reader, mut buf) = state?;
        loop {
            buf.clear();
            let read = match read_line_limited(&mut reader, &mut buf, MAX_LINE_BYTES).await {
                Ok(read) => read,
                Err(error) => return Some((Err(error), None)),
            };
            match read {
                LineRead::Eof => return None,
                LineRead::TooLong => {
                    tracing::warn!(
                        peer,
                        limit = MAX_LINE_BYTES,
                        "skipping an over-long line on stdout"
                    );
                }
                LineRead::Line => {
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match std::str::from_utf8(&buf) {
                        Ok(line) if !check_json || keep_json(line, peer) => {
                            return Some((Ok(line.to_owned()), Some((reader, buf))));
                        }
                        // Logged by `keep_json`.
                        Ok(_) => {}
                        Err(_) => {
                            tracing::warn!(peer, "skipping a line that is not UTF-8 on stdout")
                        }
                    }
                }
            }
        }
    })
}

/// A sink of lines for `writer`. The ACP crate `send`s (so flushes) every message, and
/// one write plus flush per message cost more than the message itself (on stdout each is
/// a trip through tokio's blocking pool). So the sink hands lines to a writer task that
/// writes everything queued at that moment and then flushes once; a line is on the wire
/// as soon as that task runs. A line for which `is_exit_marker` holds is not written:
/// everything before it is flushed, then `on_exit` runs (the demo agent's `/crash`).
///
/// The task ends when the sink is dropped (its queue closes) or the writer fails; the
/// sink then reports `BrokenPipe`.
pub(crate) fn line_sink<W>(
    mut writer: W,
    is_exit_marker: fn(&str) -> bool,
    on_exit: fn(),
) -> impl Sink<String, Error = io::Error> + Send + 'static
where
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(LINE_QUEUE);
    tokio::spawn(async move {
        let mut buf = Vec::with_capacity(64 * 1024);
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            let mut exit = false;
            while let Some(line) = next.take() {
                if is_exit_marker(&line) {
                    exit = true;
                    break;
                }
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
                if buf.len() < MAX_WRITE_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if let Err(error) = write_flush(&mut writer, &buf).await {
                tracing::debug!(%error, "line writer stopped");
                return;
            }
            buf.clear();
            if exit {
                on_exit();
                return;
            }
        }
    });
    tokio_util::sync::PollSender::new(tx)
        .sink_map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the line writer has stopped"))
}

/// Lines queued for the writer task before `send` waits.
const LINE_QUEUE: usize = 1024;

/// Bytes gathered into one write at most.
const MAX_WRITE_BATCH: usize = 1024 * 1024;

async fn write_flush<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A line (without its `\n`) is in the buffer.
    Line,
    /// A line longer than the limit was consumed and discarded.
    TooLong,
    Eof,
}

/// Read one line into `buf` (which must be empty), without ever buffering more than
/// `max` bytes of it.
async fn read_line_limited<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    let mut too_long = false;
    let mut seen_any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (seen_any, too_long) {
                (false, _) => LineRead::Eof,
                (true, true) => LineRead::TooLong,
                (true, false) => LineRead::Line,
            });
        }
        seen_any = true;
        let (chunk, consumed, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(consumed);
        if done {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

fn excerpt(line: &str) -> String {
    let mut chars = line.chars();
    let mut short: String = chars.by_ref().take(LOG_EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn lines_of(input: &'static [u8]) -> Vec<String> {
        json_lines(input, "test")
            .map(|line| line.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn keeps_json_and_skips_garbage() {
        let input = b"Starting agent v1.2...\n{\"a\":1}\r\n\n   \nnot { json\n\xff\xfe\n[1,2]\n{\"b\":\n{\"c\":2}";
        assert_eq!(
            lines_of(input).await,
            vec!["{\"a\":1}", "[1,2]", "{\"c\":2}"]
        );
    }

    #[tokio::test]
    async fn skips_over_long_lines() {
        let mut reader: &[u8] = b"{\"long\":\"aaaaaaaaaaaaaaaaaaaa\"}\n{\"ok\":1}\n";
        let mut buf = Vec::new();
        assert_eq!(
            read_line_limited(&mut reader, &mut buf, 10).await.unwrap(),
            LineRead::TooLong
        );
        buf.clear();
        assert_eq!(
            read_line_limited(&mut reader, &mut buf, 10).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"{\"ok\":1}");
        buf.clear();
        assert_eq!(
            read_line_limited(&mut reader, &mut buf, 10).await.unwrap(),
            LineRead::Eof
        );
    }
}
