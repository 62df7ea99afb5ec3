    lambda("{{name}}", 60, &[KAFKA]),
