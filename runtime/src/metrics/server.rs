//! The HTTP side of `--metrics` (tiny_http, one thread). A scrape is
//! handed to the run loop, which owns the maps and the printer, through a
//! channel and an eventfd it polls beside the ring buffer; the loop
//! answers with the exposition.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct Server {
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    /// `None` once stopping.
    scrapes: Option<Receiver<Sender<Result<String, String>>>>,
    wake: Arc<OwnedFd>,
    pub addr: SocketAddr,
}

fn eventfd() -> Result<OwnedFd, String> {
    // SAFETY: eventfd returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(format!("cannot make an eventfd: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn serve(http: &tiny_http::Server, scrapes: &Sender<Sender<Result<String, String>>>, wake: &OwnedFd) {
    for request in http.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let response = if path != "/metrics" {
            tiny_http::Response::from_string("ntr serves its metrics on /metrics\n").with_status_code(404)
        } else {
            let (tx, rx) = mpsc::channel();
            // Once the run stops, the send fails or the reply's sender is
            // dropped: either way the wait ends at once.
            if scrapes.send(tx).is_ok() {
                let one = 1u64.to_ne_bytes();
                // SAFETY: writes 8 bytes to the eventfd.
                unsafe { libc::write(wake.as_raw_fd(), one.as_ptr().cast(), 8) };
            }
            match rx.recv_timeout(Duration::from_secs(30)).ok() {
                Some(Ok(text)) => tiny_http::Response::from_string(text).with_header(header("Content-Type", CONTENT_TYPE)),
                Some(Err(e)) => tiny_http::Response::from_string(format!("ntr cannot write its metrics: {e}\n")).with_status_code(500),
                None => tiny_http::Response::from_string("ntr is stopping\n").with_status_code(503),
            }
        };
        let _ = request.respond(response);
    }
}

impl Server {
    /// Listen on `addr`, before anything is loaded.
    pub fn start(addr: SocketAddr) -> Result<Server, String> {
        let http = tiny_http::Server::http(addr).map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        let addr = http.server_addr().to_ip().unwrap_or(addr);
        let http = Arc::new(http);
        let wake = Arc::new(eventfd()?);
        let (tx, scrapes) = mpsc::channel();
        let (h, w) = (http.clone(), wake.clone());
        let thread = std::thread::Builder::new()
            .name("ntr-metrics".into())
            .spawn(move || serve(&h, &tx, &w))
            .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
        Ok(Server { http, thread: Some(thread), scrapes: Some(scrapes), wake, addr })
    }

    /// Readable while a scrape waits for `answer`.
    pub fn fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Answer every waiting scrape with `render()`.
    pub fn answer(&self, mut render: impl FnMut() -> Result<String, String>) {
        let mut count = [0u8; 8];
        // SAFETY: reads the eventfd's 8-byte counter (EAGAIN when zero).
        unsafe { libc::read(self.wake.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        while let Some(reply) = self.scrapes.as_ref().and_then(|s| s.try_recv().ok()) {
            let _ = reply.send(render());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.scrapes = None;
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
