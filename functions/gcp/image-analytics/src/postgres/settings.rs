//! Where the database is and how it is reached: `DATABASE_URL` (a libpq URL or key-value string,
//! so the same value works with `psql`) and `DATABASE_POOL_SIZE`.
//!
//! tokio-postgres does not know libpq's `sslmode=verify-ca|verify-full` nor `sslrootcert`: they
//! are taken out of the URL here and become the TLS connector (`tls.rs`). A TLS mode that does
//! not check the certificate (`allow`, `prefer`, `require`) is refused everywhere; and on Cloud
//! Run the certificate must be checked, unless the host is a Unix socket (the Cloud SQL
//! connector's `/cloudsql/…`, which encrypts and authenticates the connection itself).
use super::tls::{RustlsConnect, Verify};
use serve::{ConfigError, Env};
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};

/// The local PostgreSQL of `scripts/emulators.sh` (plain, on loopback).
pub const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5433/postgres";
/// Connections per instance: Cloud Run sends an instance many pushes at once, each needing a
/// connection for its transaction, while Cloud SQL's connection limit is shared by all instances.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// A database to pool connections to.
pub struct Database {
    pub config: tokio_postgres::Config,
    /// `None`: plain TCP (loopback, or a socket).
    pub tls: Option<RustlsConnect>,
    pub pool_size: usize,
}

fn err(message: String) -> ConfigError {
    ConfigError(format!("DATABASE_URL: {message}"))
}

impl Database {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let on_cloud_run = env.on_cloud_run();
        let url = env.required_in_cloud("DATABASE_URL", on_cloud_run, LOCAL_URL)?;
        let pool_size = env.number("DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE)?;
        Database::parse(&url, on_cloud_run, pool_size)
    }

    /// Errors name the variable but never echo the URL, which may hold a password.
    pub fn parse(url: &str, on_cloud_run: bool, pool_size: usize) -> Result<Self, ConfigError> {
        let (rest, sslmode, rootcert) = take_tls_params(url);
        let mut config: tokio_postgres::Config = rest.parse().map_err(|e| err(format!("{e}")))?;
        if config.get_application_name().is_none() {
            config.application_name(crate::NAME); // so its sessions show in pg_stat_activity
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let verify = match sslmode.as_deref() {
            Some("verify-ca") => Some(Verify::Ca),
            Some("verify-full") => Some(Verify::Full),
            None | Some("disable") => None,
            Some(mode @ ("allow" | "prefer" | "require")) => {
                return Err(err(format!(
                    "sslmode={mode} would accept any server certificate; use sslmode=verify-ca (or verify-full) with sslrootcert=<the server's CA>"
                )));
            }
            Some(other) => return Err(err(format!("unknown sslmode={other:?}"))),
        };
        let tls = match (verify, rootcert) {
            (Some(verify), Some(ca)) => {
                config.ssl_mode(SslMode::Require);
                Some(RustlsConnect::new(&ca, verify).map_err(err)?)
            }
            (Some(_), None) => {
                return Err(err("sslmode=verify-ca/verify-full needs sslrootcert=<the server's CA>".into()));
            }
            (None, Some(_)) => return Err(err("sslrootcert needs sslmode=verify-ca or verify-full".into())),
            (None, None) => None,
        };
        let on_socket = !config.get_hosts().is_empty() && config.get_hosts().iter().all(|h| matches!(h, Host::Unix(_)));
        if tls.is_none() && on_cloud_run && !on_socket {
            return Err(err(
                "on Cloud Run the server's certificate must be checked: add sslmode=verify-ca and sslrootcert=<the server's CA>".into(),
            ));
        }
        Ok(Database { config, tls, pool_size })
    }
}

/// Takes libpq's `sslmode` and `sslrootcert` out of a URL's query (`?a=b&c=d`) or a key-value
/// string (`a=b c=d`, unquoted values), leaving the rest for tokio-postgres.
fn take_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (head, params, sep) = match (is_url, url.split_once('?')) {
        (true, Some((head, query))) => (head, query, "&"),
        (true, None) => return (url.to_string(), None, None),
        (false, _) => ("", url, " "),
    };
    let (mut sslmode, mut rootcert, mut kept) = (None, None, Vec::new());
    for param in params.split(if is_url { '&' } else { ' ' }).filter(|p| !p.is_empty()) {
        let value = |v: &str| if is_url { percent_decode(v) } else { v.to_string() };
        match param.split_once('=') {
            Some(("sslmode", v)) => sslmode = Some(value(v)),
            Some(("sslrootcert", v)) => rootcert = Some(value(v)),
            _ => kept.push(param),
        }
    }
    let kept = kept.join(sep);
    let rest = match (is_url, kept.is_empty()) {
        (true, true) => head.to_string(),
        (true, false) => format!("{head}?{kept}"),
        (false, _) => kept,
    };
    (rest, sslmode, rootcert)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_either_form() {
        let url =
            "postgres://app:pw@10.0.0.3/estate?sslmode=verify-ca&application_name=x&sslrootcert=/run/ca%20cert.pem";
        assert_eq!(
            take_tls_params(url),
            (
                "postgres://app:pw@10.0.0.3/estate?application_name=x".into(),
                Some("verify-ca".into()),
                Some("/run/ca cert.pem".into())
            )
        );
        assert_eq!(
            take_tls_params("host=10.0.0.3 sslmode=verify-full  sslrootcert=/ca.pem user=app"),
            ("host=10.0.0.3 user=app".into(), Some("verify-full".into()), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_tls_params("postgres://h/db?sslmode=disable"),
            ("postgres://h/db".into(), Some("disable".into()), None)
        );
    }

    fn refusal(url: &str, on_cloud_run: bool) -> String {
        match Database::parse(url, on_cloud_run, 1) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unchecked_tls_is_refused_and_cloud_run_requires_a_checked_certificate() {
        for mode in ["require", "prefer", "allow"] {
            let e = refusal(&format!("postgres://app:secret@10.0.0.3/db?sslmode={mode}"), false);
            assert!(e.contains("would accept any server certificate") && !e.contains("secret"), "{e}");
        }
        assert!(refusal("postgres://h/db?sslmode=verify-ca", false).contains("needs sslrootcert"));
        assert!(refusal("postgres://h/db?sslrootcert=/ca.pem", false).contains("needs sslmode"));
        assert!(
            refusal("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem", false)
                .contains("/nonexistent/ca.pem")
        );
        for url in ["postgres://app:secret@10.0.0.3/db", "postgres://app@10.0.0.3/db?sslmode=disable"] {
            let e = refusal(url, true);
            assert!(e.contains("DATABASE_URL") && e.contains("on Cloud Run") && !e.contains("secret"), "{e}");
        }
        // Off Cloud Run plain is allowed; on it, only through the Cloud SQL connector's socket.
        assert!(Database::parse("postgres://postgres@127.0.0.1:5433/postgres", false, 1).is_ok());
        assert!(Database::parse("host=/cloudsql/p:r:i user=app dbname=estate", true, 1).is_ok());
    }

    #[test]
    fn the_pool_size_and_the_url_come_from_the_environment() {
        let env =
            Env::fixed([("DATABASE_URL", "postgres://u@db/x?application_name=mine"), ("DATABASE_POOL_SIZE", "9")]);
        let db = Database::from_env(&env).expect("parsed");
        assert_eq!((db.pool_size, db.config.get_application_name()), (9, Some("mine")));
        let db = Database::from_env(&Env::fixed([])).expect("the local default");
        assert_eq!((db.pool_size, db.config.get_application_name()), (DEFAULT_POOL_SIZE, Some(crate::NAME)));
        assert!(Database::from_env(&Env::fixed([("DATABASE_POOL_SIZE", "0")])).is_err());
    }
}
