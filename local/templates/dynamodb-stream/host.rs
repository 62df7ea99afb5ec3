/// {{name}}: built on each call over the estate's bus (Kafka, where its dead letters go).
pub fn {{crate}}(
    e: &Estate,
    event: dynamodb::Event,
    invocation: Invocation,
) -> Answer<'_, Result<StreamAnswer, HostError>> {
    Box::pin(async move {
        let function = {{crate}}::{{Type}}::new(Arc::new(e.bus.clone()));
        let out = function.handle(event, &invocation).await.map_err(refused)?;
        Ok(StreamAnswer { response: out.response, dead_lettered: out.dead_lettered })
    })
}
