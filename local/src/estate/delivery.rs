//! The platforms' delivery loops around the estate's functions: Pub/Sub pushing to Cloud Run,
//! the Functions host polling Kafka for each Azure function app, Lambda's MSK event source
//! mappings, and the bridge's mirror topics pushed on to their subscribers.
use super::*;
use platform_aws::invocation::Invocation;

impl Estate {
    /// Pub/Sub pushes one ERP message to merch-normalizer, redelivering on a non-2xx answer as
    /// Pub/Sub does (bounded here; Pub/Sub would hand it to the subscription's dead-letter topic).
    pub async fn push_erp(
        &mut self,
        data: &[u8],
        attrs: BTreeMap<String, String>,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> StatusCode {
        let body = pubsub_push::push_body(data, attrs, message_id, at, ERP_SUBSCRIPTION);
        self.push_raw(merch_normalizer::NAME, body).await
    }

    /// Pushes a ready-made body (an envelope that may be broken) to a Cloud Run function.
    pub async fn push_raw(&mut self, function: &'static str, body: Vec<u8>) -> StatusCode {
        let Some(app) = self.app(function).cloned() else { return StatusCode::NOT_FOUND };
        self.stat(function).pushes += 1;
        for _ in 0..5 {
            let (status, _) =
                post(&app, "/", &[("content-type".into(), "application/json".into())], body.clone()).await;
            if status.is_success() {
                return status;
            }
            self.stat(function).redeliveries += 1;
        }
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// The Functions host for projection-updater.
    pub async fn run_projection_updater(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_azure_app(projection_updater::NAME, max_batch).await
    }

    /// The Functions host for fraud-scorer.
    pub async fn run_fraud_scorer(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_azure_app(fraud_scorer::NAME, max_batch).await
    }

    /// The Functions host: for each function of an app, polls its topic in batches (the app's
    /// name is its consumer group), invokes, publishes output bindings, and commits only after a
    /// successful invocation; a failed one is retried with RetryContext up to the function's
    /// `maxRetryCount`.
    pub async fn run_azure_app(&mut self, app: &'static str, max_batch: usize) -> Result<(), RunError> {
        let Some(AzureApp { router, functions, .. }) = self.azure_apps.iter().find(|a| a.name == app).cloned() else {
            return Err(RunError(format!("{app} is not an Azure function app of the estate")));
        };
        for (name, function) in functions {
            let FunctionJson { trigger_topic: topic, trigger_name, outputs, max_retry_count: max_retry, .. } = function;
            loop {
                let batch = self.bus.poll(app, &[topic.as_str()], max_batch);
                if batch.is_empty() {
                    break;
                }
                let mut attempt = 0;
                let resp = loop {
                    let n = self.invocation.fetch_add(1, Ordering::SeqCst);
                    let retry = (attempt > 0).then_some((attempt, max_retry));
                    let req = functions_host::kafka_trigger_request(&name, &trigger_name, &batch, retry, n);
                    let body = serde_json::to_vec(&req).unwrap_or_default();
                    let headers = [("content-type".to_string(), "application/json".to_string())];
                    let (status, bytes) = post(&router, &format!("/{name}"), &headers, body).await;
                    self.stat(app).invocations += 1;
                    if status.is_success() {
                        break serde_json::from_slice::<InvocationResponse>(&bytes).unwrap_or_default();
                    }
                    if attempt >= max_retry {
                        return Err(RunError(format!("{name}: invocation failed after {attempt} retries")));
                    }
                    attempt += 1;
                    self.stat(app).retries += 1;
                };
                self.publish_outputs(app, &resp, &outputs).await?;
                self.stat(app).records_in += batch.len() as u64;
                self.bus.commit(app, &batch);
            }
        }
        Ok(())
    }

    /// Lambda's event source mappings for order-updater (one per topic, as MSK's are).
    pub async fn run_order_updater(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_mappings(order_updater::NAME, max_batch).await
    }

    /// order-updater's mappings, run in the order given: they are independent, so which topic's
    /// batch comes first is anyone's guess (a decision may arrive before its order).
    pub async fn run_order_updater_in(&mut self, topics: &[&str], max_batch: usize) -> Result<(), RunError> {
        self.run_lambda(order_updater::NAME, topics, max_batch).await
    }

    /// Lambda's event source mapping for payment-processor.
    pub async fn run_payment_processor(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_mappings(payment_processor::NAME, max_batch).await
    }

    /// Lambda's event source mapping for cart-cleaner.
    pub async fn run_cart_cleaner(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_mappings(cart_cleaner::NAME, max_batch).await
    }

    /// The event source mappings of a Kafka-triggered Lambda of the registry, one per topic.
    pub async fn run_mappings(&mut self, function: &str, max_batch: usize) -> Result<(), RunError> {
        let spec = crate::registry::function(function).map_err(RunError)?;
        let Host::Msk { topics, .. } = spec.host else {
            return Err(RunError(format!("{function} is not a Kafka-triggered Lambda of the estate")));
        };
        self.run_lambda(spec.name, topics, max_batch).await
    }

    /// Every delivery of the registry until nothing is left: each Kafka-triggered Lambda's
    /// mappings, each Azure app's host, each stream mapping, the bridge's mirrors and their push
    /// subscriptions, round after round until one invokes nothing. A function that joined the
    /// estate later reads its topics from the start, as a new mapping or consumer group with the
    /// earliest starting position does.
    pub async fn run_every_delivery(&mut self, max_batch: usize) -> Result<(), RunError> {
        let invoked = |e: &Estate| e.stats.values().map(|s| s.invocations + s.pushes).sum::<u64>();
        loop {
            let before = invoked(self);
            for f in crate::registry::FUNCTIONS {
                match f.host {
                    Host::Msk { topics, .. } => self.run_lambda(f.name, topics, max_batch).await?,
                    Host::Functions { .. } => self.run_azure_app(f.name, max_batch).await?,
                    Host::DynamoDbStream { table, run } => self.run_stream(f.name, table, run, max_batch).await?,
                    _ => {}
                }
            }
            self.run_push_subscriptions(max_batch).await?;
            if invoked(self) == before {
                return Ok(());
            }
        }
    }

    /// An event source mapping per topic, invoking the registry's host: polls the topic in
    /// batches, invokes, commits what the partial batch response settles, and retries the rest
    /// (bounded; then the run stops with an error, where Lambda would hand the batch to the
    /// mapping's on-failure destination).
    async fn run_lambda(&mut self, function: &'static str, topics: &[&str], max_batch: usize) -> Result<(), RunError> {
        let Host::Msk { run, .. } = crate::registry::function(function).map_err(RunError)?.host else {
            return Err(RunError(format!("{function} is not a Kafka-triggered Lambda of the estate")));
        };
        for topic in topics {
            let mut retries = 0;
            loop {
                let batch = self.bus.poll(function, &[topic], max_batch);
                if batch.is_empty() {
                    break;
                }
                let invocation = Invocation::lasting(self.clock.now(), LAMBDA_TIMEOUT);
                let answer = run(self, crate::lambda_host::msk_event(&batch), invocation)
                    .await
                    .map_err(|e| RunError(format!("{function}: {e}")))?;
                let response = answer.response;
                let settled = crate::lambda_host::settled(&batch, &response);
                let stat = self.stat(function);
                stat.invocations += 1;
                stat.dead_lettered += answer.dead_lettered as u64;
                stat.records_in += settled.len() as u64;
                self.bus.commit(function, &settled);
                if response.batch_item_failures.is_empty() || !settled.is_empty() {
                    retries = 0; // progress: what fails now is a new batch
                }
                if response.batch_item_failures.is_empty() {
                    continue;
                }
                retries += 1;
                self.stat(function).retries += 1;
                self.clock.wait(LAMBDA_RETRY_PAUSE);
                if retries > LAMBDA_MAX_RETRIES && self.commit_past_exhausted {
                    // As a mapping with a retry limit does: the failing record is done with
                    // (its metadata goes to the on-failure destination), the rest is retried.
                    let first_failed =
                        batch.iter().filter(|r| !settled.contains(r)).take(1).cloned().collect::<Vec<_>>();
                    self.bus.commit(function, &first_failed);
                    self.stat(function).skipped += first_failed.len() as u64;
                    retries = 0;
                    continue;
                }
                if retries > LAMBDA_MAX_RETRIES {
                    return Err(RunError(format!(
                        "{function}: {topic} batch still failing after {LAMBDA_MAX_RETRIES} retries"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The host's publishing of an invocation's Kafka output bindings.
    pub async fn publish_outputs(
        &mut self,
        app: &'static str,
        resp: &InvocationResponse,
        outputs: &[(String, String)],
    ) -> Result<(), RunError> {
        for (binding, msg) in functions_host::output_messages(resp, outputs).map_err(RunError)? {
            let dead_letter = msg.topic.ends_with(".dlq");
            self.bus.publish(msg).await.map_err(|e| RunError(format!("output binding {binding}: {e}")))?;
            if dead_letter {
                self.stat(app).dead_lettered += 1;
            }
        }
        Ok(())
    }

    /// kafka-pubsub-bridge's event source mappings (one per mirrored topic), publishing to the
    /// in-memory Pub/Sub (the bus, under the `mirror-…` topic names), then Pub/Sub's push
    /// subscriptions delivering what was mirrored to the Cloud Run functions subscribed to it.
    pub async fn run_mirror(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_mappings(kafka_pubsub_bridge::NAME, max_batch).await?;
        self.run_push_subscriptions(max_batch).await
    }

    /// Every push subscription of the registry: a Cloud Run function's, on the mirror of each
    /// Kafka topic it names.
    async fn run_push_subscriptions(&mut self, max_batch: usize) -> Result<(), RunError> {
        for f in crate::registry::FUNCTIONS {
            let Host::Push { topics: kafka_topics, .. } = f.host else { continue };
            for kafka_topic in kafka_topics {
                self.run_push_subscription(f.name, &topics::mirror_topic(kafka_topic), max_batch).await?;
            }
        }
        Ok(())
    }

    /// One push subscription: every new message of a Pub/Sub topic pushed to its Cloud Run
    /// function, redelivered while it answers non-2xx (bounded, see `push_raw`).
    async fn run_push_subscription(
        &mut self,
        function: &'static str,
        topic: &str,
        max_batch: usize,
    ) -> Result<(), RunError> {
        let subscription = push_subscription(function, topic);
        loop {
            let batch = self.bus.poll(&subscription, &[topic], max_batch);
            if batch.is_empty() {
                return Ok(());
            }
            for r in &batch {
                let status = self.push_raw(function, pubsub_push::pushed_from_bus(r, &subscription)).await;
                if !status.is_success() {
                    return Err(RunError(format!("{function} refused {}/{}@{}", r.topic, r.partition, r.offset)));
                }
                self.stat(function).records_in += 1;
            }
            self.bus.commit(&subscription, &batch);
        }
    }
}

/// The push subscription that delivers Pub/Sub `topic` to `function` (its consumer group on the bus).
pub fn push_subscription(function: &str, topic: &str) -> String {
    format!("{topic}-{function}")
}
