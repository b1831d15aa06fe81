//! The stdio front: newline-delimited JSON-RPC on stdin/stdout, for hosts that only spawn
//! processes. Nothing but JSON-RPC is ever written to stdout; logs go to stderr.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tether_proto::Message;
use tether_proto::ndjson::{Frame, NdjsonDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::Gateway;
use crate::downstream::Outlet;

/// How long answers still in flight may take once stdin has closed.
const DRAIN: Duration = Duration::from_secs(2);

/// Serves one client on `input`/`output` until `input` ends.
///
/// Requests run concurrently inside this one task (no task per request): the loop reads
/// whenever input is ready and drives the calls in flight in between.
pub async fn serve<R, W>(gw: Gateway, mut input: R, output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(write_loop(output, rx));
    let ds = gw.connect_client(Some(Outlet::Stream(tx.clone())));
    let mut decoder = NdjsonDecoder::default();
    let mut in_flight = FuturesUnordered::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            read = input.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            Some(()) = in_flight.next(), if !in_flight.is_empty() => continue,
        };
        decoder.push(&buf[..n]);
        while let Some(frame) = decoder.next_frame() {
            let decoded = match frame {
                Frame::Message(m) => m,
                Frame::Skipped(s) => {
                    tracing::warn!(line = %s.preview, "skipped a line from the client that is not JSON-RPC");
                    continue;
                }
            };
            match decoded.message {
                Message::Request(req) => {
                    let id = req.id.clone();
                    let cancelled = ds.track(id.clone());
                    let (gw, ds, tx) = (gw.clone(), ds.clone(), tx.clone());
                    in_flight.push(async move {
                        // A cancelled request gets no answer (the spec says not to send one);
                        // dropping the call cancels it upstream.
                        let reply = tokio::select! {
                            reply = gw.handle_request(&ds, req, None) => reply,
                            _ = cancelled.cancelled() => return,
                        };
                        ds.untrack(&id);
                        let _ = tx.send(reply);
                    });
                }
                _ => {
                    let _ = gw.handle(&ds, decoded, None).await;
                }
            }
        }
    }
    let drain = async { while in_flight.next().await.is_some() {} };
    let _ = tokio::time::timeout(DRAIN, drain).await;
    gw.disconnect_client(ds.id);
    drop(tx);
    let _ = writer.await;
    Ok(())
}

async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::UnboundedReceiver<Message>) {
    let mut batch = Vec::with_capacity(16 * 1024);
    while let Some(msg) = rx.recv().await {
        msg.encode_into(&mut batch);
        batch.push(b'\n');
        // Whatever else is ready goes out in the same write.
        while batch.len() < 1024 * 1024 {
            match rx.try_recv() {
                Ok(m) => {
                    m.encode_into(&mut batch);
                    batch.push(b'\n');
                }
                Err(_) => break,
            }
        }
        if out.write_all(&batch).await.is_err() || out.flush().await.is_err() {
            return;
        }
        batch.clear();
    }
}

/// Reads the process's stdin.
pub type Input = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// Writes the process's stdout.
pub type Output = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// The process's stdin and stdout, as non-blocking pipes when they are pipes (which is what hosts
/// give a server they spawn). Tokio's own stdin/stdout go through a helper thread, which costs a
/// cross-thread wake-up for every read and write; terminals and files still take that path.
pub fn process_io() -> (Input, Output) {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    let fifo =
        |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().ok().map(std::fs::File::from);
    let input: Input =
        match fifo(std::io::stdin().as_fd()).and_then(|f| pipe::Receiver::from_file(f).ok()) {
            Some(r) => Box::new(r),
            None => Box::new(tokio::io::stdin()),
        };
    let output: Output =
        match fifo(std::io::stdout().as_fd()).and_then(|f| pipe::Sender::from_file(f).ok()) {
            Some(w) => Box::new(w),
            None => Box::new(tokio::io::stdout()),
        };
    (input, output)
}
