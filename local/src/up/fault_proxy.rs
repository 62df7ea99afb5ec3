//! A loopback TCP proxy in front of an emulator, to inject the faults a network gives: every open
//! connection cut, new ones refused (accepted and closed at once, as a dead listener behind a
//! load balancer looks), or each chunk delayed — for a while. The emulators keep their state in
//! memory, so they cannot be stopped and started again; the proxy makes them unreachable instead.
//! Clients are given the proxy's address in place of the emulator's.
use super::emulators::Endpoints;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// `host:port` of an endpoint: a URL's authority (without credentials), or the text itself.
fn authority(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, a)| a)
}

/// The endpoints with a proxy before moto, the Pub/Sub emulator, the Cosmos DB emulator, the GCS
/// emulator and PostgreSQL, and the proxies by service. Kafka is reached directly: its brokers
/// advertise their own address, which clients follow past any proxy, so Kafka's outage is a
/// paused broker (`EmulatorSet::pause`).
pub async fn proxied(e: &Endpoints) -> Result<(Endpoints, BTreeMap<&'static str, FaultProxy>), String> {
    let mut out = e.clone();
    let mut proxies = BTreeMap::new();
    let fields: [(&'static str, &mut String); 5] = [
        ("moto", &mut out.aws),
        ("pubsub", &mut out.pubsub),
        ("cosmos", &mut out.cosmos),
        ("gcs", &mut out.gcs),
        ("postgres", &mut out.database_url),
    ];
    for (service, endpoint) in fields {
        let upstream = authority(endpoint).to_string();
        let proxy = FaultProxy::start(&upstream).await.map_err(|err| format!("a proxy before {service}: {err}"))?;
        *endpoint = endpoint.replacen(&upstream, &proxy.addr.to_string(), 1);
        proxies.insert(service, proxy);
    }
    Ok((out, proxies))
}

#[derive(Default)]
struct Faults {
    refusing: AtomicBool,
    delay_ms: AtomicU64,
}

pub struct FaultProxy {
    /// Where clients connect (`127.0.0.1:<port>`).
    pub addr: SocketAddr,
    pub upstream: SocketAddr,
    faults: Arc<Faults>,
    /// Bumped to cut every open connection.
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and passes everything to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let upstream: SocketAddr = tokio::net::lookup_host(upstream)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{upstream}: no address")))?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Faults::default());
        let (cuts, _) = watch::channel(0u64);
        let task = tokio::spawn(accept(listener, upstream, faults.clone(), cuts.clone()));
        Ok(FaultProxy { addr, upstream, faults, cuts, task })
    }

    /// Closes every connection open now (clients see a reset mid-request and reconnect).
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// While on, new connections are closed as soon as they are accepted.
    pub fn refuse(&self, on: bool) {
        self.faults.refusing.store(on, Ordering::SeqCst);
    }

    /// Each chunk, either way, waits this long before it is passed on (zero: none).
    pub fn delay(&self, by: Duration) {
        self.faults.delay_ms.store(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// The emulator unreachable for `length`: open connections cut, new ones refused, then back.
    pub async fn outage(&self, length: Duration) {
        self.refuse(true);
        self.cut();
        tokio::time::sleep(length).await;
        self.refuse(false);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, faults: Arc<Faults>, cuts: watch::Sender<u64>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        if faults.refusing.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let (faults, cut) = (faults.clone(), cuts.subscribe());
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            relay(client, server, faults, cut).await;
        });
    }
}

/// Passes bytes both ways until either side closes or the connections are cut; dropping both
/// streams closes them.
async fn relay(client: TcpStream, server: TcpStream, faults: Arc<Faults>, mut cut: watch::Receiver<u64>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = pipe(&mut client_read, &mut server_write, &faults);
    let down = pipe(&mut server_read, &mut client_write, &faults);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = cut.changed() => {}
    }
}

async fn pipe(from: &mut (impl AsyncReadExt + Unpin), to: &mut (impl AsyncWriteExt + Unpin), faults: &Faults) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = faults.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server: what a connection sends comes back.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        s.write_all(b"ping").await?;
        let mut got = vec![0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut got)).await.map_err(std::io::Error::other)??;
        Ok(got)
    }

    #[test]
    fn an_endpoints_address_is_its_authority() {
        assert_eq!(authority("http://127.0.0.1:15000"), "127.0.0.1:15000");
        assert_eq!(authority("127.0.0.1:18085"), "127.0.0.1:18085");
        assert_eq!(authority("postgres://postgres@127.0.0.1:15433/postgres?sslmode=verify-ca"), "127.0.0.1:15433");
        assert_eq!(authority("https://127.0.0.1:18081/"), "127.0.0.1:18081");
    }

    #[tokio::test]
    async fn it_passes_cuts_refuses_and_delays() {
        let proxy = FaultProxy::start(&echo().await.to_string()).await.expect("proxy");
        let mut open = TcpStream::connect(proxy.addr).await.expect("connect");
        assert_eq!(round_trip(&mut open).await.expect("through"), b"ping");

        proxy.cut();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(round_trip(&mut open).await.is_err(), "a cut connection is closed");

        proxy.refuse(true);
        let mut refused = TcpStream::connect(proxy.addr).await.expect("accepted");
        assert!(round_trip(&mut refused).await.is_err(), "closed at once while refusing");
        proxy.refuse(false);
        let mut again = TcpStream::connect(proxy.addr).await.expect("connect");
        assert_eq!(round_trip(&mut again).await.expect("through again"), b"ping");

        proxy.delay(Duration::from_millis(150));
        let started = std::time::Instant::now();
        assert_eq!(round_trip(&mut again).await.expect("delayed"), b"ping");
        assert!(started.elapsed() >= Duration::from_millis(300), "each way delayed: {:?}", started.elapsed());
    }
}
