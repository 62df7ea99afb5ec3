//! Starting the functions that answer HTTP: an Azure function app behind the runner's Functions
//! host, and a Cloud Run service behind its push subscriptions (with what each needs on the
//! emulators: its GCS buckets, the Pub/Sub topics it publishes to, its subscriptions).
use super::cloud_run::ServiceConfig;
use super::functions_host::AppConfig;
use super::pubsub_admin::PushSubscription;
use super::push::Route;
use super::services::{self, PUSHER};
use super::*;

/// The repository's root, where the function apps' folders are.
fn repo_root() -> Result<PathBuf, String> {
    let script = emulators::script()?;
    script.parent().and_then(|s| s.parent()).map(PathBuf::from).ok_or_else(|| "no repository root".into())
}

impl Running {
    fn log_of(&self, name: &str) -> Option<PathBuf> {
        self.opts.log_dir.as_ref().map(|d| d.join(format!("{}{name}.log", self.opts.prefix)))
    }

    fn settings_of(&self, env: &[(&str, Value)]) -> Vec<(String, String)> {
        env.iter().map(|(k, v)| (k.to_string(), setting(*v, &self.endpoints, &self.names, &self.gateway_url))).collect()
    }

    pub(super) async fn start_function_app(&mut self, name: &'static str, binary: PathBuf) -> Result<(), String> {
        let app = services::function_app_of(name)?;
        let mut settings = self.settings_of(app.env);
        settings.extend(self.endpoints.cosmos_client.iter().cloned());
        let config = AppConfig {
            name,
            dir: repo_root()?.join("functions/azure").join(name),
            binary,
            settings: with_overrides(settings, name, &self.opts.env),
            log: self.log_of(name),
            prefix: self.opts.prefix.clone(),
            starting: self.opts.starting,
        };
        let hosted = HostedApp::start(config, self.stats.clone()).await.map_err(|e| format!("{name}: {e}"))?;
        self.apps.insert(name, hosted);
        Ok(())
    }

    async fn push_front_end(&mut self) -> Result<&PushFrontEnd, String> {
        if self.push.is_none() {
            let signer = Arc::new(push_auth::PushSigner::generate("local-push-1")?);
            let fe = PushFrontEnd::serve(signer, self.stats.clone())
                .await
                .map_err(|e| format!("the push front end: {e}"))?;
            self.push = Some(fe);
        }
        self.push.as_ref().ok_or_else(|| "no push front end".into())
    }

    pub(super) async fn start_cloud_run(&mut self, name: &'static str, binary: PathBuf) -> Result<(), String> {
        let service = services::cloud_run_of(name)?;
        let prefix = self.opts.prefix.clone();
        for (_, v) in service.env {
            if let Value::GcsBucket(b) = v {
                let gcs = platform_gcp::gcs::GcsObjects::emulator(&self.endpoints.gcs);
                gcs.ensure_bucket("local", &self.names.bucket(b))
                    .await
                    .map_err(|e| format!("{name}: bucket {b}: {e}"))?;
            }
        }
        for t in service.publishes {
            self.pubsub.topic(t).await?;
            self.pubsub.pull_subscription(&format!("{prefix}{t}-inspect"), t).await?;
        }
        let jwks = format!("{}/oauth2/v3/certs", self.push_front_end().await?.url);
        let mut env = self.settings_of(service.env);
        // Terraform gives each service a custom audience, its name, which the token must carry.
        env.extend([
            ("PUSH_AUDIENCE".to_string(), name.to_string()),
            ("PUSH_SERVICE_ACCOUNT".into(), PUSHER.into()),
            ("PUSH_JWKS_URL".into(), jwks),
        ]);
        let config = ServiceConfig {
            name: name.into(),
            binary,
            env: with_overrides(env, name, &self.opts.env),
            log: self.log_of(name),
        };
        let started = CloudRunService::start(&config).await.map_err(|e| format!("{name}: {e}"))?;
        let endpoint = format!("{}/", started.url);
        self.services.insert(name, started);
        for topic in services::push_topics(name, &prefix)? {
            let subscription = services::subscription_name(&prefix, &topic, name);
            let push = self.push.as_ref().ok_or("no push front end")?;
            let route = Route {
                function: name,
                endpoint: endpoint.clone(),
                audience: name.into(),
                service_account: PUSHER.into(),
            };
            push.route(&subscription, route);
            let s = PushSubscription {
                endpoint: push.endpoint(&subscription),
                dead_letter_topic: services::undeliverable_topic(&subscription),
                name: subscription,
                topic,
                audience: name.into(),
                service_account: PUSHER.into(),
                ack_deadline: services::ACK_DEADLINE,
                min_backoff: services::MIN_BACKOFF,
                max_backoff: services::MAX_BACKOFF,
                max_delivery_attempts: services::MAX_DELIVERY_ATTEMPTS,
            };
            self.pubsub.push_subscription(&s).await.map_err(|e| format!("{name}: {e}"))?;
            self.push_subscriptions.push(s.name);
        }
        Ok(())
    }
}
