//! One server over several worker threads, one per core (issue #15 item 3).
//!
//! Each worker is a whole [`Server`] with its own endpoint (built from
//! `pptp_core::endpoint::ServerConfig::worker`: its own share of Call IDs
//! and slice of the pool), its own raw GRE socket that the kernel feeds
//! only its share's packets ([`crate::net::gre::GreSocket::steer_by_call_id`]),
//! and its own TUN device (`pptp0`, `pptp0-1`, …) with routes for its pool
//! slice only. On the data path the workers share nothing: no lock, no
//! queue, no atomic.
//!
//! Worker 0 alone listens, and hands each new control connection to the
//! worker that holds the fewest (a counter per worker, the only shared
//! state). The kernel's own spreading (`SO_REUSEPORT`) hashes addresses
//! and ports and cannot see load: with the pool and `max_sessions` split
//! exactly, a worker dealt more than its share would refuse sessions that
//! another still has room for.
//!
//! The operator still sees one server: worker 0 owns the control socket
//! and asks the others over a channel (each has a `mio::Waker` in its
//! loop), so `status` lists every worker and `clear` reaches the worker
//! that holds the tunnel or call. Tunnel IDs are numbered `index + 1`,
//! `index + 1 + count`, … so that they too name their worker.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;

use super::Server;

/// What worker 0 sends another worker.
pub(crate) enum Message {
    /// A control command, and where its answer goes.
    Command {
        command: String,
        reply: mpsc::Sender<String>,
    },
    /// A control connection to serve from now on.
    Connection(TcpStream, SocketAddr),
}

/// Worker 0's handle on another worker.
pub(crate) struct Peer {
    pub tx: mpsc::Sender<Message>,
    pub waker: Arc<mio::Waker>,
}

/// What a server is among its workers.
pub(crate) enum Role {
    /// The only one.
    Only,
    /// Worker 0 of several: the control socket; asks the others.
    First(Vec<Peer>),
    /// Another worker: answers worker 0's requests.
    Other(mpsc::Receiver<Message>),
}

/// A worker's place: `index` of `count`, its role, and every worker's
/// count of control connections (none for the only worker).
pub(crate) struct Worker {
    pub index: u16,
    pub count: u16,
    pub role: Role,
    pub connections: Option<Arc<[AtomicUsize]>>,
}

impl Worker {
    /// One of this worker's counted connections is gone.
    pub(crate) fn connection_gone(&self) {
        if let Some(c) = &self.connections {
            let _ = c[usize::from(self.index)].fetch_update(
                Ordering::Relaxed,
                Ordering::Relaxed,
                |n| n.checked_sub(1),
            );
        }
    }
}

/// How long worker 0 waits for another worker's answer: longer than any
/// loop turn, short enough for an operator's shell.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Which workers a control command concerns.
enum Route {
    All,
    One(u16),
}

fn route(command: &str, count: u16) -> Route {
    let words: Vec<&str> = command.split_whitespace().collect();
    let owner = |n: u32| (n % u32::from(count)) as u16;
    match words.as_slice() {
        // Call IDs are steered by `Call ID % count` (CallIdShard).
        ["clear", "call", id] => id.parse::<u16>().map_or(Route::One(0), |id| {
            Route::One(pptp_core::endpoint::CallIdShard::owner(id, count))
        }),
        ["clear", "all"] => Route::All,
        // Tunnel IDs: `index + 1 + k * count`.
        ["clear", id] => id
            .parse::<u32>()
            .ok()
            .filter(|&id| id >= 1)
            .map_or(Route::One(0), |id| Route::One(owner(id - 1))),
        _ => Route::All,
    }
}

impl Server {
    /// A control command as the operator sees it: this worker's answer
    /// alone, or, on worker 0 of several, every concerned worker's, each
    /// under a heading.
    pub fn control_command(&mut self, command: &str) -> String {
        let count = self.worker.count;
        if !matches!(self.worker.role, Role::First(_)) {
            return self.local_command(command);
        }
        let targets: Vec<u16> = match route(command, count) {
            Route::All => (0..count).collect(),
            Route::One(k) => vec![k],
        };
        let mut out = String::new();
        for k in targets {
            let answer = if k == 0 {
                self.local_command(command)
            } else {
                self.ask(k, command)
            };
            out.push_str(&format!("=== worker {k} of {count} ===\n{answer}"));
        }
        out
    }

    /// A new connection: handed to the worker holding the fewest, or
    /// given back to be served here.
    pub(crate) fn hand_over(
        &mut self,
        stream: TcpStream,
        addr: SocketAddr,
    ) -> Option<(TcpStream, SocketAddr)> {
        let (Role::First(peers), Some(counts)) = (&self.worker.role, &self.worker.connections)
        else {
            return Some((stream, addr));
        };
        let target = (0..counts.len())
            .min_by_key(|&k| counts[k].load(Ordering::Relaxed))
            .unwrap_or(0);
        counts[target].fetch_add(1, Ordering::Relaxed);
        let Some(peer) = target.checked_sub(1).and_then(|p| peers.get(p)) else {
            return Some((stream, addr));
        };
        match peer.tx.send(Message::Connection(stream, addr)) {
            Ok(()) => {
                let _ = peer.waker.wake();
                None
            }
            // That worker has stopped: serve it here.
            Err(mpsc::SendError(message)) => {
                counts[target].fetch_sub(1, Ordering::Relaxed);
                counts[0].fetch_add(1, Ordering::Relaxed);
                match message {
                    Message::Connection(stream, addr) => Some((stream, addr)),
                    Message::Command { .. } => None,
                }
            }
        }
    }

    /// Asks worker `k` (> 0) and waits for its answer.
    fn ask(&self, k: u16, command: &str) -> String {
        let Role::First(peers) = &self.worker.role else {
            return String::new();
        };
        let Some(peer) = peers.get(usize::from(k) - 1) else {
            return format!("no worker {k}\n");
        };
        let (reply, answer) = mpsc::channel();
        let request = Message::Command {
            command: command.to_string(),
            reply,
        };
        if peer.tx.send(request).is_err() || peer.waker.wake().is_err() {
            return "stopped\n".into();
        }
        answer
            .recv_timeout(ANSWER_TIMEOUT)
            .unwrap_or_else(|_| format!("no answer in {} s\n", ANSWER_TIMEOUT.as_secs()))
    }

    /// Takes what worker 0 sent (another worker, when woken).
    pub(crate) fn answer_requests(&mut self) {
        loop {
            let message = match &self.worker.role {
                Role::Other(inbox) => match inbox.try_recv() {
                    Ok(m) => m,
                    Err(_) => return,
                },
                _ => return,
            };
            match message {
                Message::Command { command, reply } => {
                    let answer = self.local_command(&command);
                    let _ = reply.send(answer);
                }
                Message::Connection(stream, addr) => self.adopt(stream, addr),
            }
        }
    }
}

/// Builds `config.workers` servers: worker 0 last, with its handles on the
/// others. The caller runs each on its own thread.
pub fn build(config: crate::config::ServerConfig) -> Result<Vec<Server>, super::StartError> {
    let count = u16::try_from(config.workers.max(1)).unwrap_or(u16::MAX);
    if count == 1 {
        return Ok(vec![Server::new(config)?]);
    }
    let connections: Arc<[AtomicUsize]> = (0..count).map(|_| AtomicUsize::new(0)).collect();
    let mut others = Vec::new();
    let mut peers = Vec::new();
    for index in 1..count {
        let (tx, rx) = mpsc::channel();
        let worker = Worker {
            index,
            count,
            role: Role::Other(rx),
            connections: Some(connections.clone()),
        };
        let server = Server::new_worker(config.clone(), worker)?;
        let waker = mio::Waker::new(server.poll.registry(), super::WAKE)
            .map_err(|e| super::StartError(format!("worker {index}: waker: {e}")))?;
        peers.push(Peer {
            tx,
            waker: Arc::new(waker),
        });
        others.push(server);
    }
    let first = Worker {
        index: 0,
        count,
        role: Role::First(peers),
        connections: Some(connections),
    };
    let mut servers = vec![Server::new_worker(config, first)?];
    servers.extend(others);
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(r: Route) -> Option<u16> {
        match r {
            Route::One(k) => Some(k),
            Route::All => None,
        }
    }

    #[test]
    fn commands_go_to_the_worker_that_holds_the_call_or_tunnel() {
        assert_eq!(one(route("clear call 4097", 2)), Some(1));
        assert_eq!(one(route("clear call 4096", 2)), Some(0));
        // Worker 1 of 3 numbers tunnels 2, 5, 8, …
        assert_eq!(one(route("clear 5", 3)), Some(1));
        assert_eq!(one(route("clear 1", 3)), Some(0));
        assert_eq!(one(route("clear 0", 3)), Some(0));
        assert_eq!(one(route("clear all", 3)), None);
        assert_eq!(one(route("status", 3)), None);
        assert_eq!(one(route("shutdown", 3)), None);
    }
}
