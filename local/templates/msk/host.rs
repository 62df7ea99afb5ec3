/// {{name}}: built on each call over the estate's bus (Kafka, where its dead letters go).
pub fn {{crate}}(
    e: &Estate,
    event: KafkaEvent,
    invocation: Invocation,
) -> Answer<'_, Result<MskAnswer, HostError>> {
    Box::pin(async move {
        let function = {{crate}}::{{Type}}::new(Arc::new(e.bus.clone()));
        function.handle(event, &invocation).await.map(MskAnswer::from).map_err(refused)
    })
}
