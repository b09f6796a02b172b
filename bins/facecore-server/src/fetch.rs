//! Safe downloading of images from user-supplied URLs.
//!
//! The [`Fetcher`] refuses to talk to loopback, private, link-local and other
//! non-public addresses (SSRF protection). The address check is applied to the
//! address that is actually connected to: host names are resolved by a custom
//! resolver that drops forbidden addresses, IP-literal hosts are checked before
//! the request and on every redirect hop, and proxies are disabled.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::redirect;
use url::{Host, Url};

/// User-Agent sent with every request.
const USER_AGENT: &str = "facecore/0.1";

/// Limits and address rules applied by a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Time allowed to establish a TCP/TLS connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch, body included (default 15 s).
    pub total_timeout: Duration,
    /// Largest body accepted, checked against Content-Length up front and
    /// while streaming (default 15 MB).
    pub max_bytes: usize,
    /// Largest number of redirects followed (default 3).
    pub max_redirects: usize,
    /// If true, every address class is allowed (default false).
    pub allow_private: bool,
    /// Networks exempt from the address check, e.g. `127.0.0.1/32` (default empty).
    pub allowed_networks: Vec<IpNet>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(15),
            max_bytes: 15 * 1024 * 1024,
            max_redirects: 3,
            allow_private: false,
            allowed_networks: Vec::new(),
        }
    }
}

impl FetchPolicy {
    /// Whether connecting to `ip` is permitted under this policy.
    fn allows(&self, ip: IpAddr) -> bool {
        if self.allow_private || !is_forbidden_address(ip) {
            return true;
        }
        let canonical = ip.to_canonical();
        self.allowed_networks
            .iter()
            .any(|net| net.contains(ip) || net.contains(canonical))
    }
}

/// An IP network in CIDR notation, such as `10.0.0.0/8` or `::1/128`.
///
/// A bare address parses as a single-host network (`/32` or `/128`). Host bits
/// below the prefix are cleared, so `10.1.2.3/8` becomes `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string could not be parsed as an [`IpNet`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpNetParseError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("invalid network '{0}': expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128")]
    InvalidAddress(String),
    /// The prefix length is not a number or too large for the address family.
    #[error("invalid network '{input}': prefix length must be a number from 0 to {max}")]
    InvalidPrefix {
        /// The text that was parsed.
        input: String,
        /// The largest prefix length for the address family (32 or 128).
        max: u8,
    },
}

impl IpNet {
    /// Builds a network from an address and prefix length, clearing host bits.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, IpNetParseError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(IpNetParseError::InvalidPrefix {
                input: format!("{addr}/{prefix}"),
                max,
            });
        }
        let addr = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        Ok(Self { addr, prefix })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies inside this network. Addresses of the other family
    /// never match.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => in_v4(ip, net, self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => in_v6(ip, u128::from(net), self.prefix),
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr_part, prefix_part) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_part
            .parse()
            .map_err(|_| IpNetParseError::InvalidAddress(s.to_owned()))?;
        let max = max_prefix(addr);
        let prefix = match prefix_part {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => {
                    return Err(IpNetParseError::InvalidPrefix {
                        input: s.to_owned(),
                        max,
                    });
                }
            },
        };
        Self::new(addr, prefix)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = mask32(prefix);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u8) -> bool {
    let mask = mask128(prefix);
    u128::from(ip) & mask == net & mask
}

/// IPv4 ranges that are never fetched from (unless the policy allows them).
const FORBIDDEN_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network", incl. unspecified 0.0.0.0
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // carrier-grade NAT
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local, incl. cloud metadata 169.254.169.254
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation TEST-NET-1
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation TEST-NET-2
    ([203, 0, 113, 0], 24),  // documentation TEST-NET-3
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, incl. broadcast 255.255.255.255
];

/// IPv6 ranges that are never fetched from (unless the policy allows them).
/// Ranges with an embedded IPv4 address are handled separately.
const FORBIDDEN_V6: &[(u128, u8)] = &[
    (0x0064_ff9b_0001 << 80, 48), // local-use NAT64 64:ff9b:1::/48
    (0x0100 << 112, 64),          // discard-only 100::/64
    (0x2001 << 112, 23),          // IETF protocol assignments incl. Teredo, benchmarking
    (0x2001_0db8 << 96, 32),      // documentation 2001:db8::/32
    (0x3fff << 112, 20),          // documentation 3fff::/20
    (0xfc00 << 112, 7),           // unique local, incl. AWS fd00:ec2::254
    (0xfe80 << 112, 10),          // link-local
    (0xfec0 << 112, 10),          // deprecated site-local
    (0xff00 << 112, 8),           // multicast
];

/// Returns true if `ip` is an address this server must not fetch from:
/// loopback, unspecified, private, carrier-grade NAT, link-local (incl. cloud
/// metadata endpoints), unique-local, multicast, broadcast, benchmarking,
/// reserved and documentation ranges. IPv6 addresses that embed an IPv4
/// address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) are judged by the embedded IPv4 address. IPv6 addresses
/// outside global unicast `2000::/3` are always forbidden.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    FORBIDDEN_V4
        .iter()
        .any(|&(net, prefix)| in_v4(ip, Ipv4Addr::from(net), prefix))
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return forbidden_v4(v4);
    }
    if FORBIDDEN_V6
        .iter()
        .any(|&(net, prefix)| in_v6(ip, net, prefix))
    {
        return true;
    }
    // Only 2000::/3 is allocated as global unicast.
    !in_v6(ip, 0x2000 << 112, 3)
}

/// The IPv4 address embedded in an IPv4-mapped (`::ffff:0:0/96`),
/// IPv4-compatible (`::/96`, incl. `::` and `::1`), NAT64 (`64:ff9b::/96`)
/// or 6to4 (`2002::/16`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_v6(ip, 0, 96) || in_v6(ip, 0xffff << 32, 96) || in_v6(ip, 0x0064_ff9b << 96, 96) {
        Some(low32)
    } else if in_v6(ip, 0x2002 << 112, 16) {
        Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32))
    } else {
        None
    }
}

/// Why fetching an image failed. Messages are meant for API users.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The URL could not be parsed, has no host, or contains credentials.
    #[error("invalid image url: {0}")]
    InvalidUrl(String),
    /// The URL scheme is not http or https.
    #[error("image url scheme '{0}' is not allowed; only http and https are supported")]
    SchemeNotAllowed(String),
    /// The host is, or resolves to, an address in a forbidden range.
    #[error(
        "image url host '{host}' resolves to {ip}, a loopback/private address that this server does not fetch from"
    )]
    AddressNotAllowed {
        /// Host name as written in the URL.
        host: String,
        /// The forbidden address.
        ip: IpAddr,
    },
    /// The host name did not resolve to any address.
    #[error("image url host '{0}' could not be resolved to any address")]
    NoAddress(String),
    /// Connecting or the whole fetch took too long.
    #[error("timed out while fetching the image url")]
    Timeout,
    /// The body is larger than allowed.
    #[error("image is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The byte limit.
        limit: usize,
    },
    /// The URL redirected too many times.
    #[error("image url redirected more than {limit} times")]
    TooManyRedirects {
        /// The redirect limit.
        limit: usize,
    },
    /// The final response had a non-2xx status.
    #[error("image url answered with HTTP status {0}")]
    Status(u16),
    /// Any other connection or protocol error.
    #[error("could not fetch image url: {0}")]
    Network(String),
    /// The HTTP client could not be built.
    #[error("could not set up the http client: {0}")]
    Client(String),
}

/// Checks scheme, host, credentials and (for IP-literal hosts) the address.
fn check_url(url: &Url, policy: &FetchPolicy) -> Result<(), FetchError> {
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(FetchError::SchemeNotAllowed(scheme.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::InvalidUrl(
            "credentials (user:password@) in the url are not allowed".to_owned(),
        ));
    }
    let ip = match url.host() {
        None => return Err(FetchError::InvalidUrl("the url has no host".to_owned())),
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
    };
    if policy.allows(ip) {
        Ok(())
    } else {
        Err(FetchError::AddressNotAllowed {
            host: url.host_str().unwrap_or_default().to_owned(),
            ip,
        })
    }
}

/// DNS resolver that only hands out addresses the policy allows, so the
/// checked address is the one connected to (no DNS-rebinding window).
struct GuardedResolver {
    policy: Arc<FetchPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await
            {
                Ok(addrs) => addrs.collect(),
                Err(_) => Vec::new(),
            };
            let Some(first) = resolved.first() else {
                return Err(boxed(FetchError::NoAddress(host)));
            };
            let first_ip = first.ip();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| policy.allows(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(boxed(FetchError::AddressNotAllowed { host, ip: first_ip }));
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

fn boxed(err: FetchError) -> Box<dyn StdError + Send + Sync> {
    Box::new(err)
}

/// Redirect policy that re-checks every hop and limits the hop count.
fn redirect_policy(policy: Arc<FetchPolicy>) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        // `previous` holds the original URL plus every URL redirected from so far.
        if attempt.previous().len() > policy.max_redirects {
            let limit = policy.max_redirects;
            return attempt.error(FetchError::TooManyRedirects { limit });
        }
        match check_url(attempt.url(), &policy) {
            Ok(()) => attempt.follow(),
            Err(err) => attempt.error(err),
        }
    })
}

/// Maps a reqwest error to a [`FetchError`], recovering our own errors raised
/// inside the resolver or redirect policy.
fn map_reqwest_error(err: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(current) = source {
        if let Some(own) = current.downcast_ref::<FetchError>() {
            return own.clone();
        }
        source = current.source();
    }
    if err.is_timeout() {
        return FetchError::Timeout;
    }
    FetchError::Network(describe(&err.without_url()))
}

/// Joins an error and its sources into one line, skipping repeats.
fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Downloads images from untrusted URLs under a [`FetchPolicy`].
///
/// Cloning is cheap: clones share the connection pool and policy.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

impl Fetcher {
    /// Builds a fetcher with its own HTTP client configured for `policy`.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let policy = Arc::new(policy);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("image/*"));
        let client = reqwest::Client::builder()
            .no_proxy()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .referer(false)
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.total_timeout)
            .redirect(redirect_policy(Arc::clone(&policy)))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&policy),
            }))
            .build()
            .map_err(|e| FetchError::Client(describe(&e)))?;
        Ok(Self { client, policy })
    }

    /// Downloads the body at `url`, enforcing the policy's address rules,
    /// redirect limit, size limit and timeouts.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
        check_url(&parsed, &self.policy)?;
        match tokio::time::timeout(self.policy.total_timeout, self.fetch_checked(parsed)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn fetch_checked(&self, url: Url) -> Result<Vec<u8>, FetchError> {
        let limit = self.policy.max_bytes;
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(map_reqwest_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let declared = response.content_length();
        if let Some(len) = declared
            && len > limit as u64
        {
            return Err(FetchError::TooLarge { limit });
        }
        let capacity = declared.map_or(0, |len| len as usize).min(limit);
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(map_reqwest_error)? {
            if chunk.len() > limit - body.len() {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test helpers: a failure is the test failing
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, combinators::BoxBody};
    use hyper::body::{Frame, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};
    use std::time::Instant;
    use tokio::net::TcpListener;

    type Body = BoxBody<Bytes, Infallible>;

    /// Body of unknown length, so hyper sends it chunked (no Content-Length).
    struct Chunked {
        remaining: usize,
    }

    impl hyper::body::Body for Chunked {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.remaining == 0 {
                return Poll::Ready(None);
            }
            let n = self.remaining.min(1024);
            self.remaining -= n;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
        }
    }

    fn full(data: impl Into<Bytes>) -> Body {
        Full::new(data.into()).boxed()
    }

    fn respond(status: StatusCode, body: Body) -> Response<Body> {
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        resp
    }

    fn redirect_to(location: &str) -> Response<Body> {
        let mut resp = respond(StatusCode::FOUND, full(""));
        if let Ok(v) = hyper::header::HeaderValue::from_str(location) {
            resp.headers_mut().insert(hyper::header::LOCATION, v);
        }
        resp
    }

    /// Routes of the test server. `other` is a URL on another server.
    fn route(req: &Request<Incoming>, other: &str) -> Response<Body> {
        let path = req.uri().path();
        if let Some(n) = path.strip_prefix("/redirect/") {
            let n: usize = n.parse().unwrap();
            return if n == 0 {
                respond(StatusCode::OK, full("arrived"))
            } else {
                redirect_to(&format!("/redirect/{}", n - 1))
            };
        }
        match path {
            "/image" => respond(StatusCode::OK, full(&b"\x89PNG fake image"[..])),
            "/headers" => {
                let ua = req.headers().get("user-agent").cloned();
                let accept = req.headers().get("accept").cloned();
                let text = format!("{ua:?} {accept:?}");
                respond(StatusCode::OK, full(text))
            }
            "/big" => respond(StatusCode::OK, full(vec![b'x'; 4096])),
            "/big-chunked" => respond(StatusCode::OK, Chunked { remaining: 4096 }.boxed()),
            "/small-chunked" => respond(StatusCode::OK, Chunked { remaining: 2000 }.boxed()),
            "/other" => redirect_to(other),
            _ => respond(StatusCode::NOT_FOUND, full("not found")),
        }
    }

    /// Starts an HTTP server on `ip`:0 and returns its address.
    async fn serve(ip: &str, other: String) -> SocketAddr {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let other = Arc::new(other);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let other = Arc::clone(&other);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let resp = route(&req, &other);
                        async move { Ok::<_, Infallible>(resp) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        addr
    }

    /// Listener that counts connections and never answers.
    async fn silent_listener() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&count);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        (addr, count)
    }

    fn loopback_policy() -> FetchPolicy {
        FetchPolicy {
            allowed_networks: vec!["127.0.0.1/32".parse().unwrap()],
            max_bytes: 3000,
            ..FetchPolicy::default()
        }
    }

    fn fetcher(policy: FetchPolicy) -> Fetcher {
        Fetcher::new(policy).unwrap()
    }

    /// Fetches `path` from the test server at `addr`.
    async fn get(f: &Fetcher, addr: SocketAddr, path: &str) -> Result<Vec<u8>, FetchError> {
        f.fetch(&format!("http://{addr}{path}")).await
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_address_table() {
        let forbidden = [
            "127.0.0.1 127.255.255.254 ::1", // loopback
            "0.0.0.0 0.1.2.3 ::",            // unspecified / this network
            "10.0.0.1 10.255.255.255 172.16.0.1 172.31.255.255 192.168.1.1", // private
            "100.64.0.1 100.127.255.255",    // CGNAT
            "169.254.0.1 169.254.169.254 fe80::1 febf::1", // link-local, metadata
            "fc00::1 fd00:ec2::254",         // unique local, AWS metadata
            "224.0.0.1 239.255.255.250 ff02::1 ff0e::1", // multicast
            "255.255.255.255 240.0.0.1",     // broadcast, reserved
            "192.0.0.1 192.0.0.170 198.18.0.1 198.19.255.255", // IETF, benchmarking
            "192.0.2.1 198.51.100.1 203.0.113.1 2001:db8::1 3fff::1", // documentation
            "::ffff:127.0.0.1 ::ffff:10.0.0.1 ::ffff:169.254.169.254", // IPv4-mapped
            "::127.0.0.1 ::10.0.0.1",        // IPv4-compatible
            "64:ff9b::7f00:1 64:ff9b::a9fe:a9fe 64:ff9b:1::1", // NAT64
            "2002:7f00:1::1 2002:a00:1:: 2002:c0a8:101::1", // 6to4
            "2001::1 100::1 fec0::1 4000::1", // Teredo, discard, unallocated
        ];
        for s in forbidden.iter().flat_map(|group| group.split_whitespace()) {
            assert!(is_forbidden_address(ip(s)), "{s} should be forbidden");
        }
        let allowed = "8.8.8.8 1.1.1.1 93.184.216.34 172.32.0.1 100.128.0.1 192.0.1.1 \
            198.20.0.1 223.255.255.255 2606:4700::1111 2001:4860:4860::8888 \
            ::ffff:8.8.8.8 64:ff9b::808:808 2002:808:808::1";
        for s in allowed.split_whitespace() {
            assert!(!is_forbidden_address(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn ipnet_parse_contains_display() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::ffff:10.0.0.1")));
        assert_eq!(net.to_string(), "10.0.0.0/8");

        let host: IpNet = "127.0.0.1".parse().unwrap();
        assert_eq!(host.prefix_len(), 32);
        assert!(host.contains(ip("127.0.0.1")));
        assert!(!host.contains(ip("127.0.0.2")));

        let v6: IpNet = "::1/128".parse().unwrap();
        assert!(v6.contains(ip("::1")));
        assert!(!v6.contains(ip("127.0.0.1")));
        assert_eq!(v6.to_string(), "::1/128");

        let masked: IpNet = "192.168.7.9/16".parse().unwrap();
        assert_eq!(masked.to_string(), "192.168.0.0/16");
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let ula: IpNet = "fc00::/7".parse().unwrap();
        assert!(ula.contains(ip("fd00:ec2::254")));
        assert!(!ula.contains(ip("fe80::1")));

        for bad in "nonsense 10.0.0/8 10.0.0.0/ 10.0.0.0/33 ::/129 1.2.3.4/-1".split(' ') {
            let err = bad.parse::<IpNet>().unwrap_err();
            assert!(err.to_string().contains("invalid network"), "{bad}: {err}");
        }
        assert!(matches!(
            "10.0.0.0/x".parse::<IpNet>(),
            Err(IpNetParseError::InvalidPrefix { max: 32, .. })
        ));
        assert!(matches!(
            "1.2.3/8".parse::<IpNet>(),
            Err(IpNetParseError::InvalidAddress(_))
        ));
    }

    #[tokio::test]
    async fn default_policy_refuses_literal_private_addresses_without_connecting() {
        let (addr, connections) = silent_listener().await;
        let f = fetcher(FetchPolicy::default());
        let port = addr.port();
        let cases = [
            (format!("http://127.0.0.1:{port}/"), "127.0.0.1"),
            (format!("http://[::1]:{port}/"), "::1"),
            ("http://169.254.169.254/latest/".into(), "169.254.169.254"),
            ("http://10.0.0.1/".into(), "10.0.0.1"),
            (format!("http://2130706433:{port}/"), "127.0.0.1"),
            (format!("http://0x7f.1:{port}/"), "127.0.0.1"),
            (format!("http://[::ffff:7f00:1]:{port}/"), "::ffff:7f00:1"),
            ("https://[fd00:ec2::254]/".into(), "fd00:ec2::254"),
        ];
        for (url, expected) in cases {
            let start = Instant::now();
            let err = f.fetch(&url).await.unwrap_err();
            assert!(start.elapsed() < Duration::from_millis(200), "{url}");
            match err {
                FetchError::AddressNotAllowed { ip: got, .. } => {
                    assert_eq!(got, ip(expected), "{url}")
                }
                other => panic!("{url}: unexpected {other:?}"),
            }
        }
        assert_eq!(connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn default_policy_refuses_hostname_resolving_to_loopback() {
        let (addr, connections) = silent_listener().await;
        let f = fetcher(FetchPolicy::default());
        let url = format!("http://localhost:{}/", addr.port());
        let err = f.fetch(&url).await.unwrap_err();
        match &err {
            FetchError::AddressNotAllowed { host, ip } => {
                assert_eq!(host, "localhost");
                assert!(ip.is_loopback());
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("'localhost' resolves to"), "{msg}");
        assert!(msg.contains("does not fetch from"), "{msg}");
        assert_eq!(connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn bad_schemes_and_urls() {
        let f = fetcher(FetchPolicy::default());
        for url in [
            "ftp://example.com/a",
            "file:///etc/passwd",
            "gopher://example.com/",
        ] {
            let err = f.fetch(url).await.unwrap_err();
            assert!(matches!(err, FetchError::SchemeNotAllowed(_)), "{url}");
        }
        for url in ["not a url", "http://", "http://user:pass@example.com/a.png"] {
            let err = f.fetch(url).await.unwrap_err();
            assert!(matches!(err, FetchError::InvalidUrl(_)), "{url}: {err:?}");
        }
    }

    #[tokio::test]
    async fn allowed_network_fetches_body_with_headers() {
        let addr = serve("127.0.0.1", String::new()).await;
        let f = fetcher(loopback_policy());
        assert_eq!(
            get(&f, addr, "/image").await.unwrap(),
            b"\x89PNG fake image"
        );
        let headers = String::from_utf8(get(&f, addr, "/headers").await.unwrap()).unwrap();
        assert!(headers.contains("facecore/0.1"), "{headers}");
        assert!(headers.contains("image/*"), "{headers}");
        assert_eq!(get(&f, addr, "/small-chunked").await.unwrap().len(), 2000);
        // The resolver keeps only allowed addresses for host names too.
        let body = f
            .fetch(&format!("http://localhost:{}/image", addr.port()))
            .await;
        assert_eq!(body.unwrap(), b"\x89PNG fake image");
    }

    #[tokio::test]
    async fn allow_private_allows_everything() {
        let addr = serve("127.0.0.2", String::new()).await;
        let policy = FetchPolicy {
            allow_private: true,
            ..FetchPolicy::default()
        };
        let body = get(&fetcher(policy), addr, "/image").await.unwrap();
        assert_eq!(body, b"\x89PNG fake image");
    }

    #[tokio::test]
    async fn too_large_with_and_without_content_length() {
        let addr = serve("127.0.0.1", String::new()).await;
        let f = fetcher(loopback_policy());
        for path in ["/big", "/big-chunked"] {
            let err = get(&f, addr, path).await.unwrap_err();
            assert!(
                matches!(err, FetchError::TooLarge { limit: 3000 }),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn non_success_status() {
        let addr = serve("127.0.0.1", String::new()).await;
        let err = get(&fetcher(loopback_policy()), addr, "/missing").await;
        let err = err.unwrap_err();
        assert!(matches!(err, FetchError::Status(404)), "{err:?}");
        assert_eq!(err.to_string(), "image url answered with HTTP status 404");
    }

    #[tokio::test]
    async fn redirect_limit() {
        let addr = serve("127.0.0.1", String::new()).await;
        let f = fetcher(loopback_policy());
        assert_eq!(get(&f, addr, "/redirect/3").await.unwrap(), b"arrived");
        let err = get(&f, addr, "/redirect/4").await.unwrap_err();
        assert!(matches!(err, FetchError::TooManyRedirects { limit: 3 }));
    }

    #[tokio::test]
    async fn redirect_to_forbidden_address_is_refused() {
        let target = serve("127.0.0.2", String::new()).await;
        let addr = serve("127.0.0.1", format!("http://{target}/image")).await;
        let err = get(&fetcher(loopback_policy()), addr, "/other").await;
        match err.unwrap_err() {
            FetchError::AddressNotAllowed { ip: got, .. } => assert_eq!(got, ip("127.0.0.2")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn redirect_to_bad_scheme_is_refused() {
        let addr = serve("127.0.0.1", "ftp://127.0.0.1/image".into()).await;
        let err = get(&fetcher(loopback_policy()), addr, "/other").await;
        assert!(
            matches!(err, Err(FetchError::SchemeNotAllowed(_))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (addr, connections) = silent_listener().await;
        let policy = FetchPolicy {
            total_timeout: Duration::from_millis(500),
            ..loopback_policy()
        };
        let start = Instant::now();
        let err = get(&fetcher(policy), addr, "/image?q=1").await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(matches!(err, FetchError::Timeout), "{err:?}");
        assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn connection_refused_is_network_error_without_query() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = get(&fetcher(loopback_policy()), addr, "/image?token=secret").await;
        let msg = err.as_ref().unwrap_err().to_string();
        assert!(matches!(err, Err(FetchError::Network(_))), "{err:?}");
        assert!(!msg.contains("secret"), "{msg}");
    }
}
