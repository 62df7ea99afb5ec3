    CloudRun { name: "{{name}}", env: &[PROJECT, PUBSUB], pushed_from: &[], publishes: &[topics::CHECKOUT_DLQ, topics::PARKED] },
