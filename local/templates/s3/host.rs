/// {{name}}: built on each call over the estate's uploads bucket.
pub fn {{crate}}(
    e: &Estate,
    event: S3Event,
    invocation: Invocation,
) -> Answer<'_, Result<Value, HostError>> {
    Box::pin(async move {
        let function = {{crate}}::{{Type}} { objects: Arc::new(e.uploads.clone()) };
        match function.handle(event, &invocation).await {
            Ok(outcomes) => Ok(json!({"outcomes": outcomes})),
            Err(error @ {{crate}}::HandlerError::NotS3(_)) => Err(refused(error)),
            Err(other) => Err(HostError::Failed(other.to_string())),
        }
    })
}
