    Lambda { retries: 2, ..lambda("{{name}}", 60, &[]) },
