//! image-analytics on the local PostgreSQL, which runs with TLS on (`sslmode=verify-ca` in
//! `DATABASE_URL`): the certificate checks, the migrations of instances starting together, a
//! pool that outlives its connections, and what the database refuses for good.
use super::*;
use chrono::{DateTime, Utc};
use domain::ports::{Counted, ImageCount, ImageTotals};
use image_analytics::postgres::PostgresTotals;
use tower::ServiceExt;

/// The same server without TLS (allowed on loopback only), for what the test itself does:
/// creating databases, terminating connections.
async fn admin(url: &str) -> tokio_postgres::Client {
    let plain = url.split('?').next().unwrap_or(url);
    let (client, connection) = tokio_postgres::connect(plain, tokio_postgres::NoTls).await.expect("admin connection");
    tokio::spawn(connection);
    client
}

/// `url` with `key=value` added to its query.
fn with_param(url: &str, param: &str) -> String {
    format!("{url}{}{param}", if url.contains('?') { '&' } else { '?' })
}

/// `url` with its database replaced.
fn on_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    query.map_or(format!("{server}/{db}"), |q| format!("{server}/{db}?{q}"))
}

/// A minute of this run's own, so earlier runs against the same server do not show.
fn own_window() -> DateTime<Utc> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    "2099-01-01T00:00:00Z".parse::<DateTime<Utc>>().expect("time")
        + chrono::Duration::minutes((nanos % 5_000_000) as i64)
}

/// (bytes, images) of each row of `window`.
async fn bytes_and_images(totals: &dyn ImageTotals, window: DateTime<Utc>) -> Vec<(u64, u64)> {
    let all = totals.totals().await.expect("totals");
    all.into_iter().filter(|t| t.window_start == window).map(|t| (t.bytes, t.images)).collect()
}

fn image(event_id: &str, window: DateTime<Utc>) -> ImageCount<'_> {
    ImageCount { event_id, window_start: window, size_label: "thumb", format: "jpeg", bytes: 100 }
}

#[tokio::test]
async fn postgres_is_reached_over_tls_with_the_servers_ca_and_nothing_else() {
    let url = emulator("DATABASE_URL");
    assert!(url.contains("sslmode=verify-ca"), "the emulators' URL checks the CA: {url}");
    let totals = PostgresTotals::connect(&url).await.expect("verify-ca: the chain checks, the name is not asked");
    totals.totals().await.expect("a query over TLS");
    let name = fresh("it-tls");
    let tracked = PostgresTotals::connect(&with_param(&url, &format!("application_name={name}"))).await.expect("TLS");
    tracked.totals().await.expect("query");
    let ssl: Vec<bool> = admin(&url)
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&name],
        )
        .await
        .expect("pg_stat_ssl")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!ssl.is_empty() && ssl.iter().all(|s| *s), "every connection of the pool is TLS: {ssl:?}");
    // verify-full checks the name: the certificate names `localhost`, not 127.0.0.1.
    let full = url.replace("sslmode=verify-ca", "sslmode=verify-full");
    let refused = PostgresTotals::connect(&full).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("certificate"), "verify-full by address refused: {refused}");
    PostgresTotals::connect(&full.replace("127.0.0.1", "localhost"))
        .await
        .expect("verify-full by the certificate's name");
    // A CA that did not sign the server's certificate.
    let dir = std::env::temp_dir().join(fresh("it-other-ca"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (key, ca) = (dir.join("ca.key"), dir.join("ca.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=another CA", "-keyout"])
        .args([&key, &std::path::PathBuf::from("-out"), &ca])
        .output()
        .expect("openssl (scripts/emulators.sh installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (base, _) = url.split_once("sslrootcert=").expect("the emulators' URL names its CA");
    let other = format!("{base}sslrootcert={}", ca.display());
    let refused = PostgresTotals::connect(&other).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("certificate"), "a server certificate of another CA refused: {refused}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_starting_at_once_on_an_empty_database_both_migrate() {
    let url = emulator("DATABASE_URL");
    let server = admin(&url).await;
    for round in 0..25 {
        let db = fresh("it_migrate").replace('-', "_");
        server.batch_execute(&format!("CREATE DATABASE {db}")).await.expect("database");
        let url = on_database(&url, &db);
        let start = || {
            let url = url.clone();
            tokio::spawn(async move { PostgresTotals::connect(&url).await })
        };
        let (a, b) = (start(), start());
        let (a, b) = (a.await.expect("ran"), b.await.expect("ran"));
        assert!(a.is_ok() && b.is_ok(), "round {round}: {:?} / {:?}", a.err(), b.err());
        let applied = admin(&url).await.query("SELECT version FROM schema_migrations", &[]).await.expect("read");
        assert_eq!(applied.len(), image_analytics::postgres::MIGRATIONS.len(), "each migration recorded once");
        drop((a, b));
        server.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).await.expect("drop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn the_pool_replaces_connections_the_server_terminated_and_the_next_push_is_counted() {
    let url = emulator("DATABASE_URL");
    let name = fresh("it-pool");
    let totals = Arc::new(
        PostgresTotals::connect(&with_param(&url, &format!("application_name={name}"))).await.expect("PostgreSQL"),
    );
    let admin = admin(&url).await;
    let window = own_window();
    let backends = || async {
        let rows = admin
            .query("SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid", &[&name])
            .await
            .expect("pg_stat_activity");
        rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>()
    };
    // Several pushes at once open several connections.
    let ids: Vec<String> = (0..8).map(|_| fresh("img-pool")).collect();
    let counts: Vec<_> = ids
        .iter()
        .map(|id| {
            let (totals, id) = (totals.clone(), id.clone());
            tokio::spawn(async move { totals.count(image(&id, window)).await })
        })
        .collect();
    for c in counts {
        assert_eq!(c.await.expect("ran"), Ok(Counted::Added));
    }
    let before = backends().await;
    assert!(!before.is_empty(), "the pool's connections are open");
    // A failover, as the instance sees it: the server ends every connection of the pool.
    for round in 0..3 {
        let killed: Vec<bool> = admin
            .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&name])
            .await
            .expect("terminate")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!killed.is_empty() && killed.iter().all(|k| *k), "round {round}: terminated {killed:?}");
        let next = fresh("img-after");
        assert_eq!(totals.count(image(&next, window)).await, Ok(Counted::Added), "round {round}: counted at once");
        assert_eq!(totals.count(image(&next, window)).await, Ok(Counted::AlreadyCounted));
    }
    let after = backends().await;
    assert!(
        !after.is_empty() && after.iter().all(|pid| !before.contains(pid)),
        "new connections: {before:?} → {after:?}"
    );
    let mine = bytes_and_images(&*totals, window).await;
    assert_eq!(mine, [(1_100, 11)]);
}

#[tokio::test]
async fn postgres_refuses_for_good_what_it_can_never_store_as_the_twin_does() {
    let totals = PostgresTotals::connect(&emulator("DATABASE_URL")).await.expect("PostgreSQL");
    estate_tests::contracts::image_totals(&totals, own_window(), &fresh("img-poison")).await;
}

#[tokio::test]
async fn each_value_postgres_refuses_is_dead_lettered_with_its_reason_and_acknowledged() {
    let totals = Arc::new(PostgresTotals::connect(&emulator("DATABASE_URL")).await.expect("PostgreSQL"));
    let bus = inmemory::Bus::new(1);
    let analytics = Arc::new(image_analytics::ImageAnalytics {
        totals: totals.clone(),
        pubsub: Arc::new(inmemory::InMemoryPubSub::new(bus.clone())),
        dead_letters: domain::dead_letter::DeadLetterPolicy::new(image_analytics::NAME, "images.dlq"),
    });
    let app = image_analytics::app(analytics, &platform_gcp::PushGuard::local());
    let window = own_window();
    let time = window.to_rfc3339();
    let push = |id: &str, label: &str, bytes: u64| {
        let event = json!({"specversion": "1.0", "id": id, "source": "/aws/image-resizer",
            "type": "com.shop.product-image.processed.v1", "time": time, "datacontenttype": "application/json",
            "data": {"sku": "TSH-001", "source_key": "uploads/TSH-001/front.jpg", "size_label": label, "bytes": bytes,
                "object_key": "processed/TSH-001/front@0123456789ab/large.jpg", "width": 1600, "height": 1200, "sha256": "00"}});
        let body = local::pubsub_push::push_body(
            event.to_string().as_bytes(),
            Default::default(),
            &format!("m-{id}"),
            Utc::now(),
            "projects/p/subscriptions/s",
        );
        let request =
            http::Request::post("/").header("content-type", "application/json").body(axum::body::Body::from(body));
        let app = app.clone();
        async move { app.oneshot(request.expect("request")).await.expect("answered").status().as_u16() }
    };
    let id = fresh("img-dlq");
    assert_eq!(push(&format!("{id}-1"), "large", i64::MAX as u64 - 5).await, 204);
    let poison = [
        (format!("{id}-2"), "large", 6, "total"),
        (format!("{id}-3"), "large", i64::MAX as u64 + 1, "bigint"),
        (format!("{id}-4"), "lar\0ge", 1, "0x00"),
    ];
    for (event, label, bytes, _) in &poison {
        assert_eq!(push(event, label, *bytes).await, 204, "{event} acknowledged, not redelivered forever");
    }
    let letters: Vec<Value> =
        bus.records("images.dlq").iter().map(|r| serde_json::from_slice(&r.payload).expect("dead letter")).collect();
    assert_eq!(letters.len(), poison.len(), "{letters:?}");
    for (letter, (event, _, _, why)) in letters.iter().zip(&poison) {
        assert_eq!(letter["data"]["reason_code"], "store_rejected", "{letter}");
        assert_eq!(letter["data"]["origin"], format!("pubsub:m-{event}"));
        let reason = letter["data"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{event}: {reason}");
    }
    let mine = bytes_and_images(&*totals, window).await;
    assert_eq!(mine, [(i64::MAX as u64 - 5, 1)], "the refused events changed nothing");
}
