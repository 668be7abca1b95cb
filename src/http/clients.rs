//! Who is calling: the client's address (the socket's peer, or behind a trusted proxy the
//! address it forwards), and per-client rate limits on the routes a flood would exhaust.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{ApiError, AppState};

/// The address of the client behind a request. From a peer that is not a trusted proxy,
/// the peer itself (a header anyone can write decides nothing). From a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not a proxy itself: entries further left
/// were written by the client and may be forged. A malformed entry stops the search at
/// the proxy, so a broken chain is limited as one client rather than believed.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.iter().rev() {
        let ip = entry
            .parse::<IpAddr>()
            .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()));
        match ip {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

/// The client of a request, when the server gave it the connection's address.
pub fn client_of(state: &AppState, request: &Request) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())?;
    Some(client_ip(
        peer,
        request.headers(),
        &state.config.trusted_proxies,
    ))
}

/// Which requests a limit counts.
#[derive(Debug, Clone, Copy)]
pub enum Counted {
    /// Every request.
    All,
    /// Posts only (the widget's polling of agents' replies is not a flood).
    Posts,
}

#[derive(Clone)]
struct Limiter {
    state: AppState,
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    counted: Counted,
    checks: Arc<AtomicU64>,
}

/// `routes` limited to `per_minute` requests per client (a burst of as many, refilled
/// evenly over the minute); beyond, 429 `rate_limited` with `Retry-After`.
pub fn limited(
    state: &AppState,
    routes: Router<AppState>,
    per_minute: u32,
    counted: Counted,
) -> Router<AppState> {
    let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
    let limiter = Limiter {
        state: state.clone(),
        limiter: Arc::new(RateLimiter::keyed(quota)),
        counted,
        checks: Arc::new(AtomicU64::new(0)),
    };
    routes.route_layer(middleware::from_fn_with_state(limiter, check))
}

/// Checks between two sweeps of clients that have their full burst back (their entries
/// cost memory and say nothing).
const SWEEP_EVERY: u64 = 4096;

async fn check(State(limits): State<Limiter>, request: Request, next: Next) -> Response {
    let counted = match limits.counted {
        Counted::All => true,
        Counted::Posts => request.method() == Method::POST,
    };
    let client = client_of(&limits.state, &request);
    let (true, Some(client)) = (counted, client) else {
        return next.run(request).await;
    };
    if limits.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
        limits.limiter.retain_recent();
    }
    match limits.limiter.check_key(&client) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after: wait.as_secs_f64().ceil() as u64,
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_forwarded_address_is_believed_from_trusted_proxies_only() {
        let proxies = [ip("10.0.0.2"), ip("10.0.0.3")];
        let forged = headers(&["6.6.6.6"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &forged, &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), &forged, &[]), ip("10.0.0.2"));
        // The client wrote the left part; the proxies appended the rest.
        let chain = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.3"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &chain, &proxies),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&[]), &proxies),
            ip("10.0.0.2")
        );
        let broken = headers(&["198.51.100.7, nonsense"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &broken, &proxies), ip("10.0.0.2"));
        let v6 = headers(&["[2001:db8::1]:4711"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &v6, &proxies), ip("2001:db8::1"));
    }
}
