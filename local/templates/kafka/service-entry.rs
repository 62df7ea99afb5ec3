    FunctionApp { name: "{{name}}", env: &[("KAFKA_BOOTSTRAP_SERVERS", Value::Kafka)] },
