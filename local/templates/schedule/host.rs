/// {{name}}: built on each call, on the estate's clock (so its report reads the same every run).
pub fn {{crate}}(
    e: &Estate,
    event: CloudWatchEvent,
    invocation: Invocation,
) -> Answer<'_, Result<Value, HostError>> {
    Box::pin(async move {
        let function = {{crate}}::{{Type}} { clock: e.clock.as_fn() };
        let report = function.handle(event, &invocation).await.map_err(refused)?;
        Ok(json!({"report": report}))
    })
}
