//! The client connection under a request: its socket, so an answer that outlives its send
//! deadline can close it.
//!
//! actix has no write timeout: while a client does not read, the connection's write buffer
//! stays full, actix stops polling the answer's body, and nothing in the body can notice the
//! time. A list page holds room in the shared page budget until its answer is sent, so a
//! client that asks for large pages and never reads them would hold that room for as long as
//! it keeps the socket open. Each page answer therefore starts a timer; if the answer is not
//! sent when it fires, the timer shuts the socket down, actix's next write fails, and the
//! body (with its room in the budget) is dropped.

use actix_web::dev::Extensions;
use actix_web::HttpRequest;
use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

/// The raw descriptor of a request's TCP connection, stored in the connection's data when it
/// is accepted. It is only read while a request of that connection is being handled, when
/// actix's dispatcher still owns the open socket, so the number cannot name another file.
#[derive(Clone, Copy)]
struct ClientSocket(RawFd);

/// Remembers each accepted TCP connection's descriptor (`HttpServer::on_connect`).
pub fn remember_socket(conn: &dyn Any, data: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(ClientSocket(tcp.as_raw_fd()));
    }
}

/// Closes the request's connection if the answer has not been sent within `timeout`;
/// dropping the guard (the answer was sent, or the connection ended) cancels it.
pub struct SendDeadline {
    timer: tokio::task::JoinHandle<()>,
}

impl SendDeadline {
    /// Starts the timer for the answer to `req`. `None` when the connection is not a TCP
    /// socket confab accepted (a test's in-memory request) or it cannot be duplicated.
    pub fn start(req: &HttpRequest, timeout: Duration) -> Option<SendDeadline> {
        let ClientSocket(raw) = *req.conn_data::<ClientSocket>()?;
        // SAFETY: the request is being handled, so its dispatcher owns the socket and the
        // descriptor is open (see `ClientSocket`). The duplicate keeps the socket itself open
        // for the timer, whatever actix does with its own descriptor meanwhile.
        let socket = unsafe { BorrowedFd::borrow_raw(raw) }
            .try_clone_to_owned()
            .ok()?;
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            abort(&socket);
        });
        Some(SendDeadline { timer })
    }
}

impl Drop for SendDeadline {
    fn drop(&mut self) {
        self.timer.abort();
    }
}

/// Ends a connection whose client stopped reading: queued data is thrown away (a zero linger
/// makes the last close send a reset instead of waiting to deliver it), and shutting both
/// directions down wakes actix's pending write with an error at once.
fn abort(socket: &OwnedFd) {
    let fd = socket.as_fd().as_raw_fd();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is our own open duplicate; both calls only change the socket's state and
    // their failure (the client went away meanwhile) needs no handling.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
    tracing::info!("a list answer was not read within --send-timeout; its connection was closed");
}
